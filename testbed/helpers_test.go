package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
)

// udpEcho runs a UDP echo server in node on addr until the test ends and
// returns its address.
func udpEcho(t *testing.T, l *lab.Lab, node, addr string) net.Addr {
	t.Helper()
	c, err := l.ListenPacket(node, "udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, src, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], src)
		}
	}()
	return c.LocalAddr()
}

// pingResult is one echo: its sequence number and round-trip time.
type pingResult struct {
	seq int
	rtt time.Duration
}

// ping sends count numbered datagrams from node to an echo server, one per
// gap, and returns the echoes in arrival order (lost ones are missing).
func ping(t *testing.T, l *lab.Lab, node string, to net.Addr, count int, gap time.Duration) []pingResult {
	t.Helper()
	c, err := l.ListenPacket(node, "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	go func() {
		msg := make([]byte, 64)
		for i := range count {
			binary.BigEndian.PutUint32(msg, uint32(i))
			binary.BigEndian.PutUint64(msg[4:], uint64(time.Since(start)))
			c.WriteTo(msg, to)
			time.Sleep(gap)
		}
	}()
	var out []pingResult
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(time.Duration(count)*gap + 2*time.Second))
	for len(out) < count {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		if n < 12 {
			continue
		}
		sent := time.Duration(binary.BigEndian.Uint64(buf[4:]))
		out = append(out, pingResult{seq: int(binary.BigEndian.Uint32(buf)), rtt: time.Since(start) - sent})
	}
	return out
}

func rttStats(rs []pingResult) (lo, median, hi time.Duration) {
	if len(rs) == 0 {
		return
	}
	d := make([]time.Duration, len(rs))
	for i, r := range rs {
		d[i] = r.rtt
	}
	slices.Sort(d)
	return d[0], d[len(d)/2], d[len(d)-1]
}

// transfer moves size random bytes over one TCP connection that client
// opens to a listener in server (on serverAddr): client -> server when upload,
// else server -> client. It fails the test unless every byte arrives intact,
// and returns how long it took.
func transfer(t *testing.T, l *lab.Lab, client, server, serverAddr string, size int, upload bool) time.Duration {
	t.Helper()
	ln, err := l.Listen(server, "tcp4", serverAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	// sink hashes what arrives; source sends data then half-closes.
	sink := func(c net.Conn) result {
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		return r
	}
	source := func(c net.Conn) error {
		if _, err := io.Copy(c, bytes.NewReader(data)); err != nil {
			return err
		}
		return c.(*net.TCPConn).CloseWrite()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		if upload {
			got <- sink(c)
			return
		}
		if err := source(c); err != nil {
			got <- result{err: err}
			return
		}
		io.Copy(io.Discard, c) // until the client closes
	}()
	start := time.Now()
	c, err := l.Dial(ctx, client, "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var r result
	if upload {
		if err := source(c); err != nil {
			t.Fatalf("send %s -> %s: %v", client, server, err)
		}
		r = <-got
	} else {
		r = sink(c)
	}
	elapsed := time.Since(start)
	if r.err != nil || r.n != int64(size) || r.sum != want {
		dir := client + " -> " + server
		if !upload {
			dir = server + " -> " + client
		}
		t.Fatalf("transfer %s: got %d of %d bytes, intact=%v, err=%v (ctx: %v)", dir, r.n, size, r.sum == want, r.err, ctx.Err())
	}
	return elapsed
}

func mbps(size int, d time.Duration) string {
	return fmt.Sprintf("%.1f Mbit/s", float64(size)*8/d.Seconds()/1e6)
}
