package overlay

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// TestRemoveMappingCutsOff: removing a live mapping resets the connections it
// carries and the mapping is gone. Under -race it also checks that counting the
// cut-off connections does not race with their forwarders ending.
func TestRemoveMappingCutsOff(t *testing.T) {
	rdv := startRelay(t)
	ka, kb := newTestKey(t), newTestKey(t)
	runNode(t, rdv, "a", ka, Service{ID: 7, Proto: "tcp", Target: echoListener(t)})
	b, _ := runNode(t, rdv, "b", kb)
	mi, err := b.AddMapping(context.Background(), api.MappingRequest{Target: "7"})
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, mi.Listen, "link up")

	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", mi.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil { // forwarded end to end
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "3 active connections (the first one ended)", func() bool {
		got := b.Mappings()
		return len(got) == 1 && got[0].Active == len(conns)
	})

	if err := b.RemoveMapping(mi.Port); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection %d after removal: %v, want a reset", i, err)
		}
	}
	if got := b.Mappings(); len(got) != 0 {
		t.Fatalf("after removal: %+v, want no mappings", got)
	}
}
