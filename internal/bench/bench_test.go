package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestCPUTimeCountsThisProcess(t *testing.T) {
	used, err := CPUDuring([]int{os.Getpid()}, func() error {
		for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 100 ms of spinning, counted in 10 ms ticks on a possibly busy machine.
	if used[0] < 30*time.Millisecond || used[0] > 2*time.Second {
		t.Fatalf("spinning 100 ms used %v of CPU", used[0])
	}
	if got := PerGB(2*time.Second, 500e6); got != 4 {
		t.Fatalf("PerGB(2s, 0.5 GB) = %v, want 4", got)
	}
}

func TestTargetStatus(t *testing.T) {
	for _, c := range []struct {
		t    Target
		want string
	}{
		{Target{Got: 1.6, Want: 1.5}, "met"},
		{Target{Got: 1.4, Want: 1.5}, "missed"},
		{Target{Got: 1.1, Want: 1.2, AtMost: true}, "met"},
		{Target{Got: 1.9, Want: 1.2, AtMost: true}, "missed"},
		{Target{Got: 0, Want: 1.2}, "not measured"},
		{Target{Got: 23}, "figure only"},
		{Target{Got: 2.1, Context: true}, "context"},
	} {
		if got := c.t.status(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%+v: status %q, want %q", c.t, got, c.want)
		}
	}
}
