package overlay

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/meshnode/meshnode/pkg/identity"
)

// TestCatalogVersionsPersist: a node's catalog version is a counter kept in its
// state dir, not a clock reading, so a restart's entry replaces the old one at
// its peers even when the old version came from a clock far ahead.
func TestCatalogVersionsPersist(t *testing.T) {
	rdv := startRelay(t)
	ka, kb := newTestKey(t), newTestKey(t)
	state := t.TempDir()
	// As if a node once ran with a clock far in the future.
	const ahead = uint64(1) << 62
	if err := os.WriteFile(filepath.Join(state, versionFile), []byte(strconv.FormatUint(ahead, 10)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(services ...Service) func() {
		n, err := New(Config{Group: "g", Secret: "a-long-enough-secret", Rendezvous: rdv, Name: "a", Key: ka,
			StateDir: state, Services: services, Logger: testLogger(t), ICEInterfaces: []string{"lo"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { n.Run(ctx); close(done) }()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return stop
	}
	stopA := run(Service{ID: 7, Name: "old", Proto: "tcp", Target: "127.0.0.1:1"})
	b, _ := runNode(t, rdv, "b", kb)
	waitFor(t, "b sees a's first entry", func() bool { return b.catalog.version(ka.Public()) > ahead })
	first := b.catalog.version(ka.Public())

	stopA()
	run(Service{ID: 8, Name: "new", Proto: "tcp", Target: "127.0.0.1:2"})
	waitFor(t, "b sees a's entry after the restart", func() bool {
		owners := b.catalog.find(func(_ identity.PublicKey, _ string, s Service) bool { return s.Name == "new" })
		return len(owners) == 1
	})
	second := b.catalog.version(ka.Public())
	if second <= first {
		t.Fatalf("b holds version %d after the restart, not above the first run's %d", second, first)
	}
	if got := b.catalog.find(func(_ identity.PublicKey, _ string, s Service) bool { return s.Name == "old" }); len(got) != 0 {
		t.Fatalf("b still lists the old service: %+v", got)
	}
	b2, err := os.ReadFile(filepath.Join(state, versionFile))
	if err != nil || strings.TrimSpace(string(b2)) != strconv.FormatUint(second, 10) {
		t.Fatalf("version file holds %q (%v)", b2, err)
	}
}

func TestLoadVersionErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, versionFile), []byte("soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadVersion(dir); err == nil || !strings.Contains(err.Error(), "is corrupt (delete it to start over)") {
		t.Fatalf("corrupt version file: %v", err)
	}
	if v, err := loadVersion(t.TempDir()); err != nil || v == 0 {
		t.Fatalf("no version file: %d %v", v, err)
	}
}
