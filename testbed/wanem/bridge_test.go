package wanem_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/labtest"
	"github.com/meshnode/meshnode/testbed/wanem"
)

func TestMain(m *testing.M) { os.Exit(labtest.Main(m)) }

func TestRelease(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1000, 0)
	last := time.Time{}
	for i := range 10000 {
		now = now.Add(time.Duration(r.IntN(3000)) * time.Microsecond)
		at := wanem.Release(now, last, 10*time.Millisecond, 5*time.Millisecond, r.Float64)
		if at.Before(last) {
			t.Fatalf("frame %d released at %v, before the previous one at %v", i, at, last)
		}
		if d := at.Sub(now); d < 5*time.Millisecond {
			t.Fatalf("frame %d delayed %v, less than delay - jitter", i, d)
		}
		if d := at.Sub(now); at.After(last) && d > 15*time.Millisecond {
			t.Fatalf("frame %d delayed %v, more than delay + jitter", i, d)
		}
		last = at
	}
	if at := wanem.Release(now, time.Time{}, time.Millisecond, 5*time.Millisecond, func() float64 { return 0 }); at.Before(now) {
		t.Errorf("negative delay: released at %v before arrival %v", at, now)
	}
}

// The bridge carries TCP (GSO frames, partial checksums) intact both ways and
// delays every frame.
func TestBridge(t *testing.T) {
	l := labtest.Up(t, "testdata/bump.clab.yml", nil)
	var br *wanem.Bridge
	if err := l.Do("wan", func() (err error) {
		br, err = wanem.Open(wanem.Config{A: "eth1", B: "eth2", Delay: 5 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- br.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	// RTT through the bridge >= 2 x 5 ms.
	srv, err := l.ListenPacket("h2", "udp4", "10.98.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, a, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], a)
		}
	}()
	cli, err := l.ListenPacket("h1", "udp4", "10.98.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	minRTT := time.Hour
	buf := make([]byte, 1500)
	for range 10 {
		start := time.Now()
		cli.WriteTo([]byte("x"), srv.LocalAddr())
		cli.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := cli.ReadFrom(buf); err != nil {
			t.Fatalf("echo through the bridge: %v", err)
		}
		minRTT = min(minRTT, time.Since(start))
	}
	t.Logf("RTT through a 5 ms bridge: min %v", minRTT)
	if minRTT < 10*time.Millisecond {
		t.Errorf("RTT %v below 2 x 5 ms", minRTT)
	}

	// 32 MiB each way over TCP.
	const size = 32 << 20
	data := make([]byte, size)
	crand.Read(data)
	ln, err := l.Listen("h2", "tcp4", "10.98.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c) // echo everything back
		echoed <- err
	}()
	c, err := l.Dial(context.Background(), "h1", "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("32 MiB echoed through the bridge: %d bytes back, equal=%v, err=%v", len(got), bytes.Equal(got, data), err)
	}
	if err := <-echoed; err != nil {
		t.Fatal(err)
	}
	t.Logf("frames h1->h2: %d (%d GSO), h2->h1: %d (%d GSO), dropped %d/%d",
		br.AtoB.Forwarded.Load(), br.AtoB.GSO.Load(), br.BtoA.Forwarded.Load(), br.BtoA.GSO.Load(),
		br.AtoB.Dropped.Load()+br.AtoB.SendErrors.Load(), br.BtoA.Dropped.Load()+br.BtoA.SendErrors.Load())
	if br.AtoB.GSO.Load() == 0 {
		t.Error("no GSO frame crossed the bridge: the test does not cover offload handling")
	}
}
