package overlay

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/meshnode/meshnode/pkg/ice"
	"github.com/meshnode/meshnode/pkg/seal"
)

// TestStatsReasons: errors as the layers below wrap them land in the right
// fixed label, and anything unknown in the catch-all, never in a new label.
func TestStatsReasons(t *testing.T) {
	var s nodeStats
	wrap := func(err error) error { return fmt.Errorf("ice: %w within 5s (details)", err) }
	for _, c := range []struct {
		err  error
		want string
	}{
		{wrap(ice.ErrNoAnswer), "no_answer"},
		{wrap(ice.ErrNoPath), "no_path"},
		{wrap(ice.ErrNoCandidates), "no_candidates"},
		{wrap(ice.ErrPeerRestarted), "peer_restarted"},
		{wrap(ice.ErrPeerClosed), "peer_closed"},
		{wrap(ice.ErrClosed), "closed"},
		{fmt.Errorf("ice: connect canceled after 1s: %w", context.Canceled), "canceled"},
		{errors.New("ice: gather candidates: boom"), "error"},
	} {
		before := loads(s.punches[:])
		s.countPunch(nil, c.err)
		for i := range s.punches {
			moved := s.punches[i].Load() != before[i]
			if moved != (punchOutcomes[i] == c.want) {
				t.Errorf("%v: outcome %s moved=%v", c.err, punchOutcomes[i], moved)
			}
		}
	}
	for _, c := range []struct {
		direct bool
		err    error
		want   string
	}{
		{true, nil, "ice_connected"},
		{false, wrap(ice.ErrDisconnected), "consent_lost"},
		{false, wrap(ice.ErrPeerClosed), "peer_closed"},
		{false, wrap(ice.ErrPeerRestarted), "peer_restarted"},
		{false, nil, "closed"},
		{false, errors.New("something else"), "error"},
	} {
		before := loads(s.pathChanges[:])
		s.countPathChange(c.direct, c.err)
		for i := range s.pathChanges {
			moved := s.pathChanges[i].Load() != before[i]
			if moved != (pathChangeReasons[i] == c.want) {
				t.Errorf("%v/%v: reason %s moved=%v", c.direct, c.err, pathChangeReasons[i], moved)
			}
		}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", seal.ErrSecretMismatch), "secret_mismatch"},
		{fmt.Errorf("x: %w", seal.ErrSuiteMismatch), "suite_mismatch"},
		{fmt.Errorf("x: %w", seal.ErrPeerKeyMismatch), "peer_key_mismatch"},
		{fmt.Errorf("x: %w", seal.ErrHandshakeTimeout), "timeout"},
		{errors.New("other"), "other"},
	} {
		before := loads(s.handshakeFail[:])
		s.countHandshakeFailure(c.err)
		for i := range s.handshakeFail {
			moved := s.handshakeFail[i].Load() != before[i]
			if moved != (handshakeFailReasons[i] == c.want) {
				t.Errorf("%v: reason %s moved=%v", c.err, handshakeFailReasons[i], moved)
			}
		}
	}
	for _, c := range []struct{ in, want string }{{"host", "host"}, {"srflx", "srflx"}, {"prflx", "prflx"}, {"relay", "relay"}, {"weird", "other"}, {"", "other"}} {
		if got := candTypes[candIndex(c.in)]; got != c.want {
			t.Errorf("candidate type %q -> %q, want %q", c.in, got, c.want)
		}
	}
}

func loads(a []atomic.Uint64) []uint64 {
	out := make([]uint64, len(a))
	for i := range a {
		out[i] = a[i].Load()
	}
	return out
}
