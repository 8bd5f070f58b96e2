package labbench

import (
	"context"

	"github.com/meshnode/meshnode/testbed/lab"
)

// Params size a run.
type Params struct {
	Quick    bool  // a smoke run (only shown in the rows)
	TTDReps  int   // time-to-direct repetitions per NAT pair, a fresh lab each
	Bulk     int64 // bytes per throughput repetition
	BulkReps int   // throughput repetitions (plain TCP and mapping alternate)
	Pings    int   // 64-byte round trips per ping-pong
}

// Full is the real benchmark.
func Full() Params { return Params{TTDReps: 5, Bulk: 8 << 20, BulkReps: 3, Pings: 500} }

// Quick is a smoke run: every row once, small sizes.
func Quick() Params { return Params{Quick: true, TTDReps: 1, Bulk: 1 << 20, BulkReps: 1, Pings: 50} }

// UpFunc brings up a fresh two-sites lab with env (NAT kinds, WAN knobs; the
// binaries are the UpFunc's business). The harness calls Down on every lab it
// gets as soon as it is done with it (Down is idempotent).
type UpFunc func(ctx context.Context, env map[string]string) (*lab.Lab, error)

// Runner runs the lab rows.
type Runner struct {
	Up   UpFunc
	Logf func(format string, args ...any) // progress (nil = quiet)
}

func (r *Runner) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}
