package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLSOptions say how a node checks the rendezvous' TLS certificate, for the
// tls transport and for wss:// URLs of the websocket transport. The zero value
// verifies the certificate chain against the system's roots and the host name
// dialled, as a browser would.
type TLSOptions struct {
	// CAFile is a PEM file of CA certificates (or a self-signed certificate)
	// trusted INSTEAD OF the system roots, as curl's --cacert: a rendezvous
	// with a private CA should not also be reachable under a certificate any
	// public CA issued. To trust both, put the system bundle in the file too.
	// "" = the system roots.
	CAFile string
	// Pin is "sha256:<base64 or hex>" of the SHA-256 of the server leaf
	// certificate's SubjectPublicKeyInfo (see CertPin); several pins may be
	// given separated by commas (to roll a key over). With a pin and no
	// CAFile the chain and the host name are not checked: the pin alone
	// authenticates the server, so a self-signed certificate works. With
	// both, the chain must verify against CAFile and the pin must match.
	Pin string
	// ServerName is the name the certificate is checked against (and sent as
	// SNI); "" = the host of the address dialled.
	ServerName string
}

// ClientTLSConfig returns the client TLS configuration for o (TLS 1.2 at
// least). Errors name what is wrong with the CA file or the pin.
func ClientTLSConfig(o TLSOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if o.CAFile != "" {
		pool, err := loadCAFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.Pin != "" {
		pins, err := ParsePins(o.Pin)
		if err != nil {
			return nil, err
		}
		// Without a CA file the pin replaces the chain check; with one both
		// apply (crypto/tls verifies the chain, then VerifyConnection runs).
		cfg.InsecureSkipVerify = o.CAFile == ""
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return checkPins(pins, cs.PeerCertificates) }
	}
	return cfg, nil
}

// loadCAFile reads the certificates of a PEM file into a new pool.
func loadCAFile(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// explainTLSError adds to a failed TLS handshake's error what the user can do
// about it; other errors come back unchanged.
func explainTLSError(err error) error {
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) || len(cve.UnverifiedCertificates) == 0 {
		return err
	}
	leaf := cve.UnverifiedCertificates[0]
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%w: the rendezvous' certificate (%s) is not signed by a CA this node trusts; "+
			"give the CA with --rendezvous-ca FILE, or pin the server's key with --rendezvous-pin "+
			"(it presented %s; compare with what the rendezvous printed at start)",
			err, describeCert(leaf), CertPin(leaf))
	case errors.As(err, &hn):
		return fmt.Errorf("%w: dial a name the certificate holds, or set the server name to one", err)
	}
	return err
}

// describeCert names a certificate in an error: its subject, or its SANs.
func describeCert(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return s
	}
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "without a subject"
	}
	return "for " + strings.Join(names, ", ")
}
