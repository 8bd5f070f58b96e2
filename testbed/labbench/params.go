package labbench

import (
	"context"
	"slices"

	"github.com/meshnode/meshnode/testbed/lab"
)

// Params size a run.
type Params struct {
	Quick    bool  // a smoke run (only shown in the rows)
	TTDReps  int   // time-to-direct repetitions per NAT pair, a fresh lab each
	Bulk     int64 // bytes per throughput repetition
	BulkReps int   // throughput repetitions (plain TCP and mapping alternate)
	Pings    int   // 64-byte round trips per ping-pong
	ColdReps int   // fresh nodes launched for the cold-start rows
	// MatrixReps: runs per NAT pair of the matrix (a fresh lab each);
	// MatrixWorkers cells run at once.
	MatrixReps, MatrixWorkers int
	// MatrixPairs, if not empty, limits the matrix to these pairs (a, b).
	MatrixPairs [][2]string
	// Only, if not empty, names the sections to run (see Sections); the
	// others are skipped and left out of the report.
	Only []string
}

// Sections are the lab rows' sections, in the order Run measures them.
var Sections = []string{"ttd", "wan", "hog", "paths", "cold", "matrix"}

func (p Params) runs(section string) bool {
	return len(p.Only) == 0 || slices.Contains(p.Only, section)
}

// Full is the real benchmark.
func Full() Params {
	return Params{TTDReps: 5, Bulk: 8 << 20, BulkReps: 3, Pings: 500, ColdReps: 10, MatrixReps: 10, MatrixWorkers: 3}
}

// Quick is a smoke run: every row once, small sizes.
func Quick() Params {
	return Params{Quick: true, TTDReps: 1, Bulk: 1 << 20, BulkReps: 1, Pings: 50, ColdReps: 1, MatrixReps: 1, MatrixWorkers: 3}
}

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
