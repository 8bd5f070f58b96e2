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

// rejection is a failed handshake: reason goes to the log, code and reply (if
// any) to the client as an Error frame.
type rejection struct {
	reason string
	code   Code
	reply  string
	auth   bool // an auth key problem (counted apart)
}

func (r *rejection) Error() string { return r.reason }

func reject(code Code, reason, reply string) error {
	return &rejection{reason: reason, code: code, reply: reply}
}

// handshake runs the server side of the handshake (see proto.go) and returns the
// client's verified hello and the auth key it used (nil on an open server).
func (c *serverConn) handshake(br *bufio.Reader) (clientHello, *AuthKey, error) {
	var h clientHello
	timeout := c.s.cfg.HandshakeTimeout
	c.nc.SetDeadline(time.Now().Add(timeout))

	magic, err := br.Peek(len(Magic))
	if err != nil {
		return h, nil, handshakeReadErr(err, "the magic", timeout)
	}
	if string(magic) != Magic {
		return h, nil, reject(CodeProtocol, badMagic(magic), "")
	}
	br.Discard(len(Magic))

	eph, err := identity.GeneratePrivateKey()
	if err != nil {
		return h, nil, fmt.Errorf("handshake: %w", err)
	}
	sh := serverHello{version: ProtocolVersion, ephPub: eph.Public()}
	rand.Read(sh.challenge[:]) // never fails (crypto/rand panics instead)
	var buf [headerLen + serverHelloLen]byte
	if _, err := c.nc.Write(appendServerHello(buf[:0], sh)); err != nil {
		return h, nil, fmt.Errorf("handshake: write ServerHello: %w", err)
	}

	t, body, err := readFrame(br, clientHelloLen)
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return h, nil, reject(CodeProtocol, "handshake: "+err.Error(), err.Error())
		}
		return h, nil, handshakeReadErr(err, "a ClientHello", timeout)
	}
	if t != frameClientHello {
		msg := fmt.Sprintf("expected a ClientHello, got %v", t)
		return h, nil, reject(CodeProtocol, "handshake: "+msg, msg)
	}
	h, err = parseClientHello(body)
	if err != nil {
		var ve *VersionError
		if errors.As(err, &ve) {
			return h, nil, reject(CodeVersion, ve.Error(), ve.Error())
		}
		return h, nil, reject(CodeProtocol, "handshake: "+err.Error(), err.Error())
	}
	// The auth proof first: it is a MAC, while the node proof and the group
	// signature cost public-key operations that strangers should not get for free.
	key, err := c.checkAuth(&sh.challenge, &h)
	if err != nil {
		return h, nil, err
	}
	dh, err := eph.SharedSecret(h.key)
	if err != nil {
		return h, nil, reject(CodeBadNodeProof, fmt.Sprintf("node key %s is a low-order point", h.key.Short()),
			"authentication failed: invalid node key")
	}
	want := computeProof(dh, &sh.challenge, &h)
	if !proofsEqual(&want, &h.proof) {
		return h, nil, reject(CodeBadNodeProof, fmt.Sprintf("bad proof for node %s: the client does not hold that node's private key", h.key.Short()),
			"authentication failed: the proof does not match the node key")
	}
	if !identity.VerifyAdmission(h.groupKey, admissionMessage(&sh.challenge, &h.key, &h.group), &h.groupSig) {
		return h, nil, reject(CodeBadGroupSig, fmt.Sprintf("bad group signature from node %s", h.key.Short()),
			"the group signature does not verify against the group key")
	}
	c.nc.SetDeadline(time.Time{})
	return h, key, nil
}

// checkAuth checks the hello's auth proof against the server's keys. On an open
// server it admits anyone (a key sent anyway is ignored).
func (c *serverConn) checkAuth(challenge *[challengeLen]byte, h *clientHello) (*AuthKey, error) {
	ks := c.s.auth.Load()
	if ks == nil {
		return nil, nil
	}
	fail := func(code Code, reason, reply string) error {
		return &rejection{code: code, reason: reason, reply: reply, auth: true}
	}
	if h.authID == (AuthKeyID{}) {
		return nil, fail(CodeNoAuthKey, "no auth key", "this rendezvous admits only nodes with an auth key")
	}
	k := ks.lookup(h.authID)
	if k == nil {
		return nil, fail(CodeBadAuthKey, "unknown auth key id "+h.authID.String(), "unknown auth key")
	}
	want := computeAuthProof((*[AuthKeySize]byte)(&k.Secret), challenge, h)
	if !proofsEqual(&want, &h.auth) {
		return nil, fail(CodeBadAuthKey, "bad proof for auth key "+k.Name(), "the auth proof does not match the key")
	}
	if k.expired(time.Now()) {
		return nil, fail(CodeAuthKeyExpired, "auth key "+k.Name()+" expired",
			"auth key expired at "+k.Expires.UTC().Format(time.RFC3339))
	}
	if !k.allows(h.group) {
		return nil, fail(CodeAuthKeyGroup, fmt.Sprintf("auth key %s is not valid for group %s", k.Name(), h.group.Short()),
			"auth key not valid for this group")
	}
	return k, nil
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
