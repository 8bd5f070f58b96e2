package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// pattern is a deterministic pseudo-random byte stream: both ends can produce it.
func pattern(seed uint64, n int64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// echoRoundTrip sends n pattern bytes through addr to an echo service while reading
// the echo back, half-closes, and checks that exactly the same n bytes returned.
// It exercises both directions of a mapping at once.
func echoRoundTrip(addr string, n int64, seed uint64, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	werr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, pattern(seed, n))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	want := sha256.New()
	io.Copy(want, pattern(seed, n))
	got := sha256.New()
	m, rerr := io.Copy(got, c)
	if err := <-werr; err != nil {
		return fmt.Errorf("write after %d bytes echoed: %w", m, err)
	}
	if rerr != nil {
		return fmt.Errorf("read after %d of %d bytes: %w", m, n, rerr)
	}
	if m != n {
		return fmt.Errorf("echoed %d bytes, sent %d", m, n)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		return fmt.Errorf("echoed bytes differ from the sent ones (%d bytes)", n)
	}
	return nil
}
