package relay

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// rejection is a failed handshake: reason goes to the log, reply (if any) to the
// client as an Error frame.
type rejection struct{ reason, reply string }

func (r *rejection) Error() string { return r.reason }

func reject(reason, reply string) error { return &rejection{reason: reason, reply: reply} }

// handshake runs the server side of the handshake (see proto.go) and returns the
// client's verified hello.
func (c *serverConn) handshake(br *bufio.Reader) (clientHello, error) {
	var h clientHello
	timeout := c.s.cfg.HandshakeTimeout
	c.nc.SetDeadline(time.Now().Add(timeout))

	magic, err := br.Peek(len(Magic))
	if err != nil {
		return h, handshakeReadErr(err, "the magic", timeout)
	}
	if string(magic) != Magic {
		return h, reject(badMagic(magic), "")
	}
	br.Discard(len(Magic))

	eph, err := identity.GeneratePrivateKey()
	if err != nil {
		return h, fmt.Errorf("handshake: %w", err)
	}
	sh := serverHello{version: ProtocolVersion, ephPub: eph.Public()}
	rand.Read(sh.challenge[:]) // never fails (crypto/rand panics instead)
	var buf [headerLen + serverHelloLen]byte
	if _, err := c.nc.Write(appendServerHello(buf[:0], sh)); err != nil {
		return h, fmt.Errorf("handshake: write ServerHello: %w", err)
	}

	t, body, err := readFrame(br, clientHelloMaxLen)
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return h, reject("handshake: "+err.Error(), err.Error())
		}
		return h, handshakeReadErr(err, "a ClientHello", timeout)
	}
	if t != frameClientHello {
		msg := fmt.Sprintf("expected a ClientHello, got %v", t)
		return h, reject("handshake: "+msg, msg)
	}
	h, err = parseClientHello(body)
	if err != nil {
		var ve *VersionError
		if errors.As(err, &ve) {
			return h, reject(ve.Error(), ve.Error())
		}
		return h, reject("handshake: "+err.Error(), err.Error())
	}
	dh, err := eph.SharedSecret(h.key)
	if err != nil {
		return h, reject(fmt.Sprintf("node key %s is a low-order point", h.key.Short()),
			"authentication failed: invalid node key")
	}
	want := computeProof(dh, &sh.challenge, &h.group, &h.key)
	if !proofsEqual(&want, &h.proof) {
		return h, reject(fmt.Sprintf("bad proof for node %s: the client does not hold that node's private key", h.key.Short()),
			"authentication failed: the proof does not match the node key")
	}
	c.nc.SetDeadline(time.Time{})
	return h, nil
}

func handshakeReadErr(err error, what string, timeout time.Duration) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("handshake timeout: no %s within %v", what, timeout)
	case errors.Is(err, net.ErrClosed):
		return fmt.Errorf("handshake interrupted: %w", err)
	}
	return fmt.Errorf("connection closed during the handshake, waiting for %s: %w", what, err)
}

// badMagic explains what a client that did not start with Magic probably is.
func badMagic(m []byte) string {
	switch {
	case len(m) >= 2 && m[0] == 0x16 && m[1] == 0x03:
		return "not a meshnode client: it starts a TLS handshake (a client using the TLS transport while this server runs without --tls-cert?)"
	case bytes.HasPrefix(m, []byte("SSH-")):
		return fmt.Sprintf("not a meshnode client: looks like SSH (%q)", m)
	}
	for _, method := range []string{"GET ", "POST", "HEAD", "PUT ", "OPTI", "CONN", "PRI ", "DELE", "PATC"} {
		if bytes.HasPrefix(m, []byte(method)) {
			return fmt.Sprintf("not a meshnode client: looks like HTTP (%q)", m)
		}
	}
	return fmt.Sprintf("not a meshnode client: bad magic %q", m)
}
