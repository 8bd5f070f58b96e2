package overlay

import (
	"testing"
	"time"
)

func TestWarningsRateLimited(t *testing.T) {
	w := warnings{every: time.Minute}
	now := time.Unix(1000, 0)
	if ok, _ := w.allow("a", now); !ok {
		t.Fatal("first warning suppressed")
	}
	for range 5000 {
		if ok, _ := w.allow("a", now.Add(time.Second)); ok {
			t.Fatal("a repeat within the interval was allowed")
		}
	}
	if ok, _ := w.allow("b", now); !ok {
		t.Fatal("another kind of warning was suppressed")
	}
	ok, n := w.allow("a", now.Add(time.Minute))
	if !ok || n != 5000 {
		t.Fatalf("after the interval: allowed %v, suppressed count %d, want 5000", ok, n)
	}
	for i := range 2 * maxWarnKeys {
		w.allow(string(rune(i)), now)
	}
	if len(w.last) > maxWarnKeys {
		t.Fatalf("%d keys kept, bound %d", len(w.last), maxWarnKeys)
	}
}
