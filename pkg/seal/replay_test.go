package seal

import (
	"encoding/binary"
	"testing"
)

// windowModel is the reference: a counter is accepted iff it is new and no more
// than windowSize behind the highest accepted one.
type windowModel struct {
	seen map[uint64]bool
	max  uint64
}

func (m *windowModel) acceptable(c uint64) bool {
	return !m.seen[c] && (c > m.max || m.max-c <= windowSize)
}

func (m *windowModel) accept(c uint64) bool {
	if !m.acceptable(c) {
		return false
	}
	m.seen[c] = true
	m.max = max(m.max, c)
	return true
}

func TestReplayWindow(t *testing.T) {
	const W = windowSize
	for _, tc := range []struct {
		name string
		seq  []uint64
		want []bool
	}{
		{"in order", []uint64{0, 1, 2, 3}, []bool{true, true, true, true}},
		{"duplicate", []uint64{0, 1, 1, 0}, []bool{true, true, false, false}},
		{"reordered", []uint64{5, 3, 4, 0, 5}, []bool{true, true, true, true, false}},
		{"window edge", []uint64{W + 10, 10, 9, 10}, []bool{true, true, false, false}},
		{"big jump clears", []uint64{1, 1 << 40, 1<<40 - 1, 1, 1<<40 - W, 1<<40 - W - 1}, []bool{true, true, true, false, true, false}},
		{"block boundary", []uint64{63, 64, 127, 128, 64}, []bool{true, true, true, true, false}},
		{"ring wrap", []uint64{0, W, W + 64, 64, 63, W + 64}, []bool{true, true, true, true, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w replayWindow
			for i, c := range tc.seq {
				if got := !w.seen(c) && w.accept(c); got != tc.want[i] {
					t.Fatalf("counter %d (#%d): accepted=%v, want %v", c, i, got, tc.want[i])
				}
			}
		})
	}
}

// FuzzReplayWindow checks the ring against the reference model. Each 3-byte op
// moves relative to the highest counter: a signed 16-bit offset, scaled by 64
// when the flag byte's low bit is set (to cross blocks and the whole window).
func FuzzReplayWindow(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0xff, 0xff})
	f.Add([]byte{1, 0x7f, 0xff, 0, 0x80, 0, 1, 0x01, 0x00, 0, 0, 5})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var w replayWindow
		m := windowModel{seen: map[uint64]bool{}}
		for len(ops) >= 3 {
			flag, off := ops[0], int64(int16(binary.BigEndian.Uint16(ops[1:3])))
			ops = ops[3:]
			if flag&1 == 1 {
				off *= blockBits
			}
			c := uint64(max(int64(m.max)+off, 0))
			want := m.acceptable(c)
			if w.seen(c) == want {
				t.Fatalf("seen(%d) = %v with max %d", c, !want, m.max)
			}
			if got := w.accept(c); got != want {
				t.Fatalf("accept(%d) = %v, want %v (max %d)", c, got, want, m.max)
			}
			m.accept(c)
			if w.seen(c) != true {
				t.Fatalf("seen(%d) false right after accept", c)
			}
		}
	})
}
