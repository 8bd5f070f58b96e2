package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// privateCA writes a CA certificate and a server certificate for 127.0.0.1 it
// signed, with the server's key, to dir.
func privateCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "meshnode test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "rendezvous"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER, 0o644), write("cert.pem", "CERTIFICATE", der, 0o644), write("key.pem", "PRIVATE KEY", kder, 0o600)
}

// TestPrivateCAEndToEnd: a rendezvous with a certificate from a private CA
// serves a node over wss:// (the websocket plugin, trusting the CA by
// --rendezvous-ca) and one over the tls transport (trusting the certificate's
// key by --rendezvous-pin, which the rendezvous logged); they map a service and
// move data. A node that trusts neither is refused with the reason.
func TestPrivateCAEndToEnd(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := privateCA(t, dir)
	r := startRendezvous(t, "", "--ws-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	pin := waitLog(t, r.Proc, regexp.MustCompile(`tls_pin="?(sha256:[^" ]+)`), 5*time.Second)[1]
	wss := "wss://" + r.WSAddr + "/meshnode/v1/relay"
	echo := startEcho(t)
	startNodeAt(t, wss, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()},
		Extra: []string{"--transport", "websocket", "--rendezvous-ca", ca, "--relay-only"}})
	b := startNodeAt(t, r.Addr, nodeOpts{Name: "beta",
		Extra: []string{"--transport", "tls", "--rendezvous-pin", pin, "--relay-only"}})
	listen := mapService(t, b, "700")
	if err := echoRoundTrip(listen, 4<<20, 21, time.Minute); err != nil {
		t.Fatalf("over wss:// and tls with a private CA: %v", err)
	}
	// Trusting only the system roots: refused, with a hint.
	c := startNodeAt(t, r.Addr, nodeOpts{Name: "gamma", Extra: []string{"--transport", "tls", "--relay-only"}})
	waitLog(t, c.Proc, regexp.MustCompile(`not signed by a CA this node trusts; give the CA with --rendezvous-ca FILE, or pin the server's key with --rendezvous-pin`), 10*time.Second)
}
