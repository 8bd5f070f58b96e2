package overlay

import (
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xtaci/kcp-go/v5"
)

// TestKCPConnBatchesACKs: a burst of segments delivered as one receive batch
// is acknowledged with a few ACK packets, not one per segment, every byte
// arrives (those that came before the session too), and the mode is back to
// immediate ACKs after the batch (a lone segment is acknowledged at once).
func TestKCPConnBatchesACKs(t *testing.T) {
	const segments = 22 // one flight: KCP's initial remote window is 32 segments
	addr := &linkAddr{s: "peer"}
	var mu sync.Mutex
	var data [][]byte
	sender := newKCPConn(addr, func(seg []byte) {
		mu.Lock()
		data = append(data, append([]byte{msgKCP}, seg...))
		mu.Unlock()
	})
	defer sender.Close()
	var acks atomic.Int64
	receiver := newKCPConn(addr, func([]byte) { acks.Add(1) })
	defer receiver.Close()

	sa, err := kcp.NewConn3(7, addr, nil, 0, 0, sender)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	tuneKCP(sa, 0)
	payload := make([]byte, segments*kcpMTU(0)-segments*24) // 24: KCP's segment header

	for i := range payload {
		payload[i] = byte(i * 7)
	}
	if _, err := sa.Write(payload); err != nil {
		t.Fatal(err)
	}
	var burst [][]byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		mu.Lock()
		if len(data) >= segments {
			burst = data[:segments] // not the retransmissions that may follow
		}
		mu.Unlock()
		if burst != nil {
			break
		}
	}
	if burst == nil {
		t.Fatalf("sender emitted %d segments for %d segments' worth", len(data), segments)
	}
	// The first segments come before the receiving session exists (kept for
	// it); the rest arrive as one receive batch: more is set on all but the
	// last.
	const early = 3
	for _, seg := range burst[:early] {
		b := getBuf()
		*b = append(*b, seg...)
		receiver.deliver(b, false)
	}
	sb, err := kcp.NewConn3(7, addr, nil, 0, 0, receiver)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	tuneKCP(sb, 0)
	receiver.sess.Store(sb)
	for i, seg := range burst[early:] {
		b := getBuf()
		*b = append(*b, seg...)
		receiver.deliver(b, early+i < len(burst)-1)
	}

	got := make([]byte, len(payload))
	sb.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(sb, got); err != nil {
		t.Fatalf("read the burst: %v", err)
	}
	if string(got) != string(payload) {
		t.Fatal("the burst arrived corrupted")
	}
	// ACKs leave through kcp-go's transmit queue after the data is readable:
	// count once none has left for 50 ms (five KCP intervals).
	for last := int64(-1); last != acks.Load(); time.Sleep(50 * time.Millisecond) {
		last = acks.Load()
	}
	// The early segments are acknowledged one by one (no sess to steer yet);
	// then at most one ACK packet per 57 segments (KCP's clocking) and one at
	// the end of the burst, plus interval flushes.
	if n := acks.Load(); n > segments/3 {
		t.Errorf("%d ACK packets for a burst of %d segments", n, len(burst))
	}
	if receiver.ackLazy {
		t.Error("still collecting ACKs after the last segment of the burst")
	}
}
