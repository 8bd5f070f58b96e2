package seal

import (
	"fmt"
	"testing"
)

// TestSessionEviction: which session makes room for a new one.
func TestSessionEviction(t *testing.T) {
	type spec struct {
		confirmed bool
		lastRecv  uint64
		expired   bool
	}
	mk := func(seq uint64, sp spec) *session {
		s := &session{localIndex: uint32(seq), seq: seq}
		s.confirmed.Store(sp.confirmed)
		s.lastRecv.Store(sp.lastRecv)
		return s
	}
	for _, tc := range []struct {
		name       string
		live       []spec // seq 1, 2, 3
		current    int    // index into live, -1 none
		newConf    bool
		wantVictim int // index into live
	}{
		{"free slot", []spec{{confirmed: true}}, 0, true, 1},
		{"unconfirmed replaces unconfirmed, even with a free slot", []spec{{confirmed: true, lastRecv: 5}, {confirmed: false}}, 0, false, 1},
		{"expired goes first", []spec{{confirmed: true, lastRecv: 9}, {confirmed: true, expired: true}, {confirmed: true}}, 2, true, 1},
		{"new current: old current goes, peer's session and unconfirmed stay",
			[]spec{{confirmed: true, lastRecv: 9}, {confirmed: true, lastRecv: 2}, {confirmed: false}}, 1, true, 1},
		{"new current: oldest unprotected goes",
			[]spec{{confirmed: true, lastRecv: 1}, {confirmed: true, lastRecv: 9}, {confirmed: true, lastRecv: 3}}, 2, true, 0},
		{"new unconfirmed: current and peer's session stay",
			[]spec{{confirmed: true, lastRecv: 1}, {confirmed: true, lastRecv: 9}, {confirmed: true, lastRecv: 3}}, 0, false, 2},
		{"new unconfirmed: current is the peer's session too",
			[]spec{{confirmed: true, lastRecv: 1}, {confirmed: true, lastRecv: 9}, {confirmed: true, lastRecv: 3}}, 1, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tab sessionTable
			expired := map[*session]bool{}
			for i, sp := range tc.live {
				tab.live[i] = mk(uint64(i+1), sp)
				expired[tab.live[i]] = sp.expired
			}
			if tc.current >= 0 {
				tab.current = tab.live[tc.current]
			}
			s := mk(10, spec{confirmed: tc.newConf})
			got := tab.victim(s, func(x *session) bool { return expired[x] })
			if got != tc.wantVictim {
				t.Fatalf("victim slot %d, want %d", got, tc.wantVictim)
			}
			n, _ := tab.with(s, func(x *session) bool { return expired[x] })
			if n.current != tab.current || n.lookup(10) != s {
				t.Fatal("with lost current or s")
			}
		})
	}
}

// TestCrossingRetries: both sides initiate, the responses get lost, both retry
// (several unanswered handshakes cross), then the link converges with at most
// one unconfirmed session per side, and data flows.
func TestCrossingRetries(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			clk := newFakeClock()
			p := newTestPair(t, pairOpts{clock: clk})
			lose := true
			noResponses := func(pkt []byte) bool { return !lose || pkt[0] != typeResponse }
			p.ab.filter, p.ba.filter = noResponses, noResponses
			p.ab.setHold(true)
			p.ba.setHold(true)
			p.a.ch.Initiate()
			p.b.ch.Initiate()
			pick := randPicker(seed)
			for round := range 4 {
				lose = round < 2
				deliver(p, pick)
				for _, e := range []*endpoint{p.a, p.b} {
					if n := e.ch.table.Load().count(func(s *session) bool { return !s.confirmed.Load() }); n > 1 {
						t.Fatalf("%s holds %d unconfirmed sessions", e.name, n)
					}
				}
				clk.Advance(DefaultRetryInterval * 12 / 10)
				p.a.ch.onTimer()
				p.b.ch.onTimer()
			}
			deliver(p, pick)
			exchange(t, p, "x", 4, pick)
		})
	}
}
