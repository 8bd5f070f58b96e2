package overlay

// slots is a counting semaphore that never blocks: work beyond the bound is refused.
type slots chan struct{}

func newSlots(n int) slots { return make(slots, n) }

func (s slots) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s slots) release() { <-s }
