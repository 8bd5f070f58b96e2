package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/xtaci/kcp-go/v5"
	"github.com/xtaci/smux"
)

// Raw kcp-go + smux between two processes: the same ceiling as rawkcp.go, but
// with the process boundary every product path has (each datagram wakes
// another process). On 2 cores that boundary, not KCP, is most of a small
// round trip's cost, so the product is compared with both.

// Stream modes: the first byte a client writes on a stream.
const (
	rawSink = 's' // then an 8-byte length n: read n bytes, answer with n (8 bytes)
	rawEcho = 'e' // echo
)

// ServeRawPeer is the child side: it listens on loopback UDP, prints
// "addr=ADDR" on stdout and serves KCP sessions (sink and echo streams) until
// stdin closes.
func ServeRawPeer() error {
	ln, err := kcp.ListenWithOptions("127.0.0.1:0", nil, 0, 0)
	if err != nil {
		return err
	}
	ln.SetReadBuffer(4 << 20)
	ln.SetWriteBuffer(4 << 20)
	fmt.Printf("addr=%s\n", ln.Addr())
	go func() { io.Copy(io.Discard, os.Stdin); ln.Close() }()
	for {
		s, err := ln.AcceptKCP()
		if err != nil {
			return nil
		}
		kcpTuning(s, true)
		go func() {
			mux, err := smux.Server(s, smuxTuning())
			if err != nil {
				s.Close()
				return
			}
			defer mux.Close()
			for {
				st, err := mux.AcceptStream()
				if err != nil {
					return
				}
				go serveRawStream(st)
			}
		}()
	}
}

func serveRawStream(st *smux.Stream) {
	defer st.Close()
	var mode [1]byte
	if _, err := io.ReadFull(st, mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case rawSink: // smux streams have no half-close: the length says where the end is
		var b [8]byte
		if _, err := io.ReadFull(st, b[:]); err != nil {
			return
		}
		n, _ := io.CopyN(io.Discard, st, int64(binary.BigEndian.Uint64(b[:])))
		binary.BigEndian.PutUint64(b[:], uint64(n))
		st.Write(b[:])
	case rawEcho:
		io.Copy(st, st)
	}
}

// RawPeer is a running child process serving raw KCP.
type RawPeer struct {
	proc *child
	mux  *smux.Session
	kcp  *kcp.UDPSession
}

// StartRawPeer runs exe (the benchmark binary) with args that make it call
// ServeRawPeer, and connects one KCP session with smux to it.
func StartRawPeer(exe string, args ...string) (*RawPeer, error) {
	proc, err := startChild("raw kcp peer", exe, args...)
	if err != nil {
		return nil, err
	}
	p := &RawPeer{proc: proc}
	if p.kcp, err = kcp.DialWithOptions(proc.addr, nil, 0, 0); err != nil {
		p.Close()
		return nil, err
	}
	p.kcp.SetReadBuffer(4 << 20)
	p.kcp.SetWriteBuffer(4 << 20)
	kcpTuning(p.kcp, true)
	if p.mux, err = smux.Client(p.kcp, smuxTuning()); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close ends the child.
func (p *RawPeer) Close() {
	if p.mux != nil {
		p.mux.Close()
	}
	if p.kcp != nil {
		p.kcp.Close()
	}
	p.proc.stop()
}

func (p *RawPeer) open(mode byte) (*smux.Stream, error) {
	st, err := p.mux.OpenStream()
	if err != nil {
		return nil, err
	}
	if _, err := st.Write([]byte{mode}); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// Throughput moves n bytes to the child's sink; MB/s to its acknowledgement.
func (p *RawPeer) Throughput(n int64) (float64, error) { return p.ParallelThroughput(1, n) }

// ParallelThroughput opens streams smux streams on the one KCP session to the
// child's sink and moves each bytes on every one at once: aggregate MB/s to
// the last acknowledgement.
func (p *RawPeer) ParallelThroughput(streams int, each int64) (float64, error) {
	sts := make([]*smux.Stream, 0, streams)
	defer func() {
		for _, st := range sts {
			st.Close()
		}
	}()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(each))
	for range streams {
		st, err := p.open(rawSink)
		if err != nil {
			return 0, err
		}
		sts = append(sts, st)
		st.SetDeadline(time.Now().Add(10 * time.Minute))
		if _, err := st.Write(b[:]); err != nil {
			return 0, err
		}
	}
	return aggregate(streams, each, func(i int) error {
		if err := writeChunks(sts[i], each); err != nil {
			return err
		}
		return readAck(sts[i], each, "raw kcp peer")
	})
}

// Pid is the child's process id.
func (p *RawPeer) Pid() int { return p.proc.cmd.Process.Pid }

// PingPong does rounds 64-byte round trips with the child's echo.
func (p *RawPeer) PingPong(rounds int) (Series, error) {
	st, err := p.open(rawEcho)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(5 * time.Minute))
	return PingPongOn(st, rounds)
}
