package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// udpEcho answers every datagram with itself.
func udpEcho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], addr)
		}
	}()
	return pc.LocalAddr().String()
}

// TestUDPService: a UDP service mapped on another node echoes datagrams of many
// sizes for several clients at once, each to its own client.
func TestUDPService(t *testing.T) {
	r := startRendezvous(t, "")
	a := startNode(t, r, nodeOpts{Name: "alpha"})
	b := startNode(t, r, nodeOpts{Name: "beta"})
	ctx := context.Background()
	s, err := a.Ctl.AddService(ctx, api.Service{Target: udpEcho(t), Name: "dns", Proto: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := b.Ctl.AddMapping(ctx, api.MappingRequest{Target: fmt.Sprint(s.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if mi.Proto != "udp" {
		t.Fatalf("mapping proto %q", mi.Proto)
	}
	var wg sync.WaitGroup
	for client := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", mi.Listen)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			buf := make([]byte, 65535)
			for i, size := range []int{1, 64, 512, 1400, 1500, 9000, 60000} {
				msg := bytes.Repeat([]byte{byte(client), byte(i)}, size/2+1)[:size]
				// UDP may drop: retry a few times before calling it lost.
				ok := false
				for try := 0; try < 20 && !ok; try++ {
					c.Write(msg)
					c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
					n, err := c.Read(buf)
					ok = err == nil && bytes.Equal(buf[:n], msg)
				}
				if !ok {
					t.Errorf("client %d: datagram of %d bytes never echoed intact", client, size)
					return
				}
			}
		}()
	}
	wg.Wait()
	st, err := b.Ctl.Mappings(ctx)
	if err != nil || len(st) != 1 || st[0].Total != 4 {
		t.Fatalf("mapping stats %+v %v (want 4 flows)", st, err)
	}
}
