package seal

// replayWindow is WireGuard's sliding-window replay filter: a ring of 64-bit
// blocks holding one bit per counter. It remembers every counter in
// [last-windowSize, last]; anything older is rejected. Callers mark a counter only
// after its packet authenticated (check with seen first, then accept), and hold
// the session's lock around both.
type replayWindow struct {
	last uint64 // highest counter accepted
	ring [ringBlocks]uint64
}

const (
	blockBitLog = 6
	blockBits   = 1 << blockBitLog
	ringBlocks  = 1 << 7                       // 128 blocks, 1 KiB per session
	windowSize  = (ringBlocks - 1) * blockBits // 8128 packets
	blockMask   = ringBlocks - 1
	bitMask     = blockBits - 1
)

// seen reports whether counter was accepted already or is too old, without
// changing anything (the cheap check before decrypting).
func (w *replayWindow) seen(counter uint64) bool {
	if counter > w.last {
		return false
	}
	if w.last-counter > windowSize {
		return true
	}
	return w.ring[(counter>>blockBitLog)&blockMask]&(1<<(counter&bitMask)) != 0
}

// accept marks counter as seen and reports whether it was new and in the window.
func (w *replayWindow) accept(counter uint64) bool {
	index := counter >> blockBitLog
	if counter > w.last {
		// Slide forward: clear the blocks between the old and the new last.
		current := w.last >> blockBitLog
		diff := min(index-current, ringBlocks)
		for i := current + 1; i <= current+diff; i++ {
			w.ring[i&blockMask] = 0
		}
		w.last = counter
	} else if w.last-counter > windowSize {
		return false
	}
	index &= blockMask
	bit := uint64(1) << (counter & bitMask)
	old := w.ring[index]
	w.ring[index] = old | bit
	return old&bit == 0
}
