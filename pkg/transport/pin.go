package transport

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// pinPrefix starts every pin string.
const pinPrefix = "sha256:"

// CertPin returns the pin of a certificate: "sha256:" and the standard base64
// of the SHA-256 of its SubjectPublicKeyInfo (as HPKP and curl's
// --pinnedpubkey compute it). It stays the same when a certificate is renewed
// with the same key. The rendezvous prints it at start; nodes give it as
// --rendezvous-pin.
func CertPin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return pinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

// TLSCertPin returns CertPin of a loaded certificate's leaf (the first
// certificate of its chain), e.g. of tls.LoadX509KeyPair's result.
func TLSCertPin(c tls.Certificate) (string, error) {
	leaf := c.Leaf
	if leaf == nil {
		if len(c.Certificate) == 0 {
			return "", errors.New("certificate pin: the TLS certificate holds no certificate")
		}
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return "", fmt.Errorf("certificate pin: %w", err)
		}
	}
	return CertPin(leaf), nil
}

// ParsePins parses one pin or several separated by commas, each
// "sha256:" followed by the 32-byte digest in base64 (standard or URL
// alphabet, padded or not) or in hex (64 digits).
func ParsePins(s string) ([][32]byte, error) {
	var out [][32]byte
	for p := range strings.SplitSeq(s, ",") {
		d, err := parsePin(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func parsePin(p string) ([32]byte, error) {
	var d [32]byte
	bad := func(why string) ([32]byte, error) {
		return d, fmt.Errorf("certificate pin %q: %s; want sha256:<base64 or hex of the SHA-256 of the certificate's public key> (the rendezvous prints it at start)", p, why)
	}
	if len(p) < len(pinPrefix) || !strings.EqualFold(p[:len(pinPrefix)], pinPrefix) {
		return bad("does not start with sha256:")
	}
	v := p[len(pinPrefix):]
	if len(v) == 2*len(d) {
		if _, err := hex.Decode(d[:], []byte(v)); err == nil {
			return d, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if len(b) != len(d) {
				return bad(fmt.Sprintf("the digest is %d bytes, not 32", len(b)))
			}
			copy(d[:], b)
			return d, nil
		}
	}
	return bad("the digest is neither base64 nor 64 hex digits")
}

// PinMismatchError is the error of a TLS handshake whose server certificate
// matches none of the pins.
type PinMismatchError struct {
	Want []string // the pins configured
	Got  string   // the pin of the certificate the server presented
	Cert string   // the certificate's subject, for the message
}

func (e *PinMismatchError) Error() string {
	want := strings.Join(e.Want, " or ")
	return fmt.Sprintf("the rendezvous' certificate (%s) does not match --rendezvous-pin: expected %s, got %s "+
		"(if the rendezvous' key changed on purpose, pin the new one; otherwise something between here and the rendezvous presents its own certificate)",
		e.Cert, want, e.Got)
}

// checkPins accepts a chain whose leaf's key matches one of pins.
func checkPins(pins [][32]byte, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("the rendezvous presented no certificate")
	}
	leaf := chain[0]
	got := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	for _, p := range pins {
		if subtle.ConstantTimeCompare(p[:], got[:]) == 1 {
			return nil
		}
	}
	e := &PinMismatchError{Got: pinPrefix + base64.StdEncoding.EncodeToString(got[:]), Cert: describeCert(leaf)}
	for _, p := range pins {
		e.Want = append(e.Want, pinPrefix+base64.StdEncoding.EncodeToString(p[:]))
	}
	return e
}
