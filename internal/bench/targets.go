package bench

import (
	"fmt"
	"io"
)

// Target is one of an issue's targets beside what a run measured for it.
type Target struct {
	What   string  // the target, in the words
	From   string  // which rows the figure comes from
	Got    float64 // the measured ratio or figure (0: not measured)
	Want   float64 // the bound; 0: none within one run (a figure to compare with an earlier run's)
	AtMost bool    // met when Got <= Want (else when Got >= Want)
	Unit   string  // "x" for a ratio, else a unit after a space (" MB/s")
	// Context marks a row that is no target but explains the one above it
	// (a floor the design cannot go below on this machine).
	Context bool
}

func (t Target) status() string {
	switch {
	case t.Got == 0:
		return "not measured"
	case t.Context:
		return "context"
	case t.Want == 0:
		return "figure only: compare with a run before the change"
	case t.AtMost && t.Got <= t.Want, !t.AtMost && t.Got >= t.Want:
		return "met"
	}
	return "missed"
}

func (t Target) wanted() string {
	switch {
	case t.Want == 0:
		return "-"
	case t.AtMost:
		return fmt.Sprintf("<= %.2f%s", t.Want, t.Unit)
	}
	return fmt.Sprintf(">= %.2f%s", t.Want, t.Unit)
}

// WriteTargets writes a markdown section titled title that lists each target,
// its figure in this run and whether the figure meets it.
func WriteTargets(w io.Writer, title string, ts []Target) {
	fmt.Fprintf(w, "\n## %s\n\nComputed from the rows above (ratios within this run). Nothing fails on a number.\n\n", title)
	fmt.Fprintf(w, "| target | from | measured | wanted | status |\n|---|---|---|---|---|\n")
	for _, t := range ts {
		fmt.Fprintf(w, "| %s | %s | %.2f%s | %s | %s |\n", t.What, t.From, t.Got, t.Unit, t.wanted(), t.status())
	}
}
