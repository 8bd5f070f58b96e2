package bench

import (
	"encoding/binary"
	"io"
	"net"
	"time"

	"github.com/xtaci/kcp-go/v5"
	"github.com/xtaci/smux"
)

// Raw kcp-go + smux over a plain UDP socket pair on loopback, no encryption, with
// the overlay's KCP and smux settings: the ceiling for any KCP link, measured
// in this process beside the product.

// kcpTuning mirrors pkg/overlay/tuning.go (kept in step by hand: the baseline
// must use the product's settings to be a fair ceiling). ackNoDelay true is the
// product's setting (it holds ACKs only while more segments are queued, which
// plain kcp-go cannot do); false is kcp-go's delayed ACKs, for context.
func kcpTuning(s *kcp.UDPSession, ackNoDelay bool) {
	//lint:ignore SA1019 the product's setting (pkg/overlay/tuning.go); kcp-go has no replacement
	s.SetStreamMode(true)
	s.SetWriteDelay(false)
	s.SetNoDelay(1, 10, 2, 1)
	s.SetWindowSize(1024, 1024)
	s.SetMtu(1370)
	s.SetACKNoDelay(ackNoDelay)
	s.SetReadBuffer(4 << 20)
	s.SetWriteBuffer(4 << 20)
}

func smuxTuning() *smux.Config {
	c := smux.DefaultConfig()
	c.Version = 2
	c.MaxReceiveBuffer = 4 << 20
	c.MaxStreamBuffer = 2 << 20
	c.MaxFrameSize = 32 << 10
	return c
}

// rawPair is one smux stream over KCP over UDP on loopback.
type rawPair struct {
	client, server *smux.Stream
	closers        []io.Closer
}

func (p *rawPair) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i].Close()
	}
}

func newRawPair(ackNoDelay bool) (*rawPair, error) {
	p := &rawPair{}
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		a.Close()
		return nil, err
	}
	p.closers = append(p.closers, a, b)
	ka, err := kcp.NewConn3(7, b.LocalAddr(), nil, 0, 0, a)
	if err != nil {
		p.Close()
		return nil, err
	}
	kb, err := kcp.NewConn3(7, a.LocalAddr(), nil, 0, 0, b)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.closers = append(p.closers, ka, kb)
	kcpTuning(ka, ackNoDelay)
	kcpTuning(kb, ackNoDelay)
	sa, err := smux.Client(ka, smuxTuning())
	if err != nil {
		p.Close()
		return nil, err
	}
	sb, err := smux.Server(kb, smuxTuning())
	if err != nil {
		p.Close()
		return nil, err
	}
	p.closers = append(p.closers, sa, sb)
	if p.client, err = sa.OpenStream(); err != nil {
		p.Close()
		return nil, err
	}
	p.client.Write([]byte{0}) // announce the stream
	if p.server, err = sb.AcceptStream(); err != nil {
		p.Close()
		return nil, err
	}
	io.ReadFull(p.server, make([]byte, 1))
	return p, nil
}

// RawKCPThroughput moves n bytes over one raw kcp+smux stream and returns MB/s,
// timed to the receiver's acknowledgement.
func RawKCPThroughput(n int64) (float64, error) { return rawThroughput(n, true) }

// RawKCPThroughputDelayedACKs is RawKCPThroughput with kcp-go's delayed ACKs
// (one ACK packet per KCP interval or per ~57 segments instead of one per
// segment).
func RawKCPThroughputDelayedACKs(n int64) (float64, error) { return rawThroughput(n, false) }

func rawThroughput(n int64, ackNoDelay bool) (float64, error) {
	p, err := newRawPair(ackNoDelay)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		got, err := io.CopyN(io.Discard, p.server, n)
		if err == nil {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(got))
			_, err = p.server.Write(b[:])
		}
		done <- err
	}()
	if err := writeChunks(p.client, n); err != nil {
		return 0, err
	}
	if err := readAck(p.client, n, "raw kcp receiver"); err != nil {
		return 0, err
	}
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

// RawKCPPingPong does rounds 64-byte round trips over a raw kcp+smux stream.
func RawKCPPingPong(rounds int) (Series, error) {
	p, err := newRawPair(true)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	go io.Copy(p.server, p.server)
	msg, back := make([]byte, 64), make([]byte, 64)
	for range 10 {
		if err := roundTripRW(p.client, msg, back); err != nil {
			return nil, err
		}
	}
	out := make(Series, 0, rounds)
	for range rounds {
		start := time.Now()
		if err := roundTripRW(p.client, msg, back); err != nil {
			return nil, err
		}
		out = append(out, ms(time.Since(start)))
	}
	return out, nil
}

func roundTripRW(c io.ReadWriter, msg, back []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, back)
	return err
}
