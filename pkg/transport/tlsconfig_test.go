package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a private certificate authority for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate as a PEM file
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// issue returns a server certificate for 127.0.0.1 and localhost signed by ca.
func (ca *testCA) issue(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "rendezvous.internal"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// tlsEchoAddr serves TLS with cert on loopback and echoes; it returns host:port.
func tlsEchoAddr(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, tls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{cert}}))
	return inner.Addr().String()
}

// wssEchoURL serves the WebSocket endpoint over TLS with cert and echoes; it
// returns the wss:// URL.
func wssEchoURL(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc(WebSocketPath, func(w http.ResponseWriter, r *http.Request) {
		nc, err := AcceptWebSocket(w, r)
		if err != nil {
			return
		}
		defer nc.Close()
		io.Copy(nc, nc)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused certificates are expected
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "wss://" + srv.Listener.Addr().String() + WebSocketPath
}

// dialWith dials addr with the tls or websocket transport configured by o.
func dialWith(kind string, o TLSOptions, addr string) (net.Conn, error) {
	if kind == "websocket" {
		//lint:ignore S1016 field by field on purpose, as in WebSocketConfig.TLSOptions
		return WebSocket(WebSocketConfig{CAFile: o.CAFile, Pin: o.Pin, ServerName: o.ServerName}).Dial(context.Background(), addr)
	}
	cfg, err := ClientTLSConfig(o)
	if err != nil {
		return nil, err
	}
	return TLS(cfg).Dial(context.Background(), addr)
}

// TestPrivateCAAndPin: the tls and websocket transports reach a rendezvous
// with a private-CA or a self-signed certificate given the CA file or the pin,
// and refuse, saying why and what to do, otherwise.
func TestPrivateCAAndPin(t *testing.T) {
	ca := newCA(t, "meshnode test CA")
	other := newCA(t, "some other CA")
	caCert := ca.issue(t)
	self, _ := selfSigned(t)
	selfPin, caPin := CertPin(self.Leaf), CertPin(caCert.Leaf)
	sum := sha256.Sum256(self.Leaf.RawSubjectPublicKeyInfo)
	selfPinHex := "sha256:" + hex.EncodeToString(sum[:])
	otherPin := CertPin(other.issue(t).Leaf)

	for _, kind := range []string{"tls", "websocket"} {
		t.Run(kind, func(t *testing.T) {
			serve := tlsEchoAddr
			if kind == "websocket" {
				serve = wssEchoURL
			}
			caAddr, selfAddr := serve(t, caCert), serve(t, self)
			for _, tc := range []struct {
				name string
				o    TLSOptions
				addr string
				want []string // empty: must work
			}{
				{"CA file", TLSOptions{CAFile: ca.file}, caAddr, nil},
				{"pin of a self-signed certificate", TLSOptions{Pin: selfPin}, selfAddr, nil},
				{"pin in hex", TLSOptions{Pin: selfPinHex}, selfAddr, nil},
				{"one of two pins", TLSOptions{Pin: otherPin + "," + selfPin}, selfAddr, nil},
				{"pin alone does not check the name", TLSOptions{Pin: selfPin, ServerName: "elsewhere.example"}, selfAddr, nil},
				{"CA file and pin", TLSOptions{CAFile: ca.file, Pin: caPin}, caAddr, nil},

				{"system roots, self-signed", TLSOptions{}, selfAddr,
					[]string{"certificate signed by unknown authority", "give the CA with --rendezvous-ca FILE, or pin the server's key with --rendezvous-pin", "it presented " + selfPin}},
				{"system roots, private CA", TLSOptions{}, caAddr, []string{"unknown authority", "CN=rendezvous.internal", "--rendezvous-ca"}},
				{"another CA's file", TLSOptions{CAFile: other.file}, caAddr, []string{"unknown authority", "--rendezvous-ca"}},
				{"wrong pin", TLSOptions{Pin: otherPin}, selfAddr,
					[]string{"does not match --rendezvous-pin: expected " + otherPin + ", got " + selfPin}},
				{"CA file and wrong pin", TLSOptions{CAFile: ca.file, Pin: selfPin}, caAddr, []string{"expected " + selfPin + ", got " + caPin}},
				{"right pin, chain not from the CA file", TLSOptions{CAFile: other.file, Pin: caPin}, caAddr, []string{"unknown authority"}},
				{"CA file, wrong name", TLSOptions{CAFile: ca.file, ServerName: "wrong.example"}, caAddr, []string{"not wrong.example", "dial a name the certificate holds"}},
				{"bad pin", TLSOptions{Pin: "sha1:abc"}, caAddr, []string{`certificate pin "sha1:abc": does not start with sha256:`}},
			} {
				c, err := dialWith(kind, tc.o, tc.addr)
				if len(tc.want) == 0 {
					if err != nil {
						t.Errorf("%s: %v", tc.name, err)
						continue
					}
					roundTrip(t, c)
					c.Close()
					continue
				}
				if err == nil {
					c.Close()
					t.Errorf("%s: dial worked, want an error", tc.name)
					continue
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: err = %v\nwant %q", tc.name, err, w)
					}
				}
				if strings.Contains(tc.name, "wrong pin") {
					var pe *PinMismatchError
					if !errors.As(err, &pe) || pe.Got != CertPin(certOf(tc.addr, caAddr, caCert, self)) {
						t.Errorf("%s: %v is not a PinMismatchError with the presented pin", tc.name, err)
					}
				}
			}
		})
	}
}

func certOf(addr, caAddr string, caCert, self tls.Certificate) *x509.Certificate {
	if addr == caAddr {
		return caCert.Leaf
	}
	return self.Leaf
}

func TestParsePins(t *testing.T) {
	var d [32]byte
	for i := range d {
		d[i] = byte(i * 7)
	}
	std := base64.StdEncoding.EncodeToString(d[:])
	for _, ok := range []string{
		"sha256:" + std,
		"SHA256:" + std,
		"sha256:" + base64.RawStdEncoding.EncodeToString(d[:]),
		"sha256:" + base64.URLEncoding.EncodeToString(d[:]),
		"sha256:" + base64.RawURLEncoding.EncodeToString(d[:]),
		"sha256:" + hex.EncodeToString(d[:]),
		"sha256:" + strings.ToUpper(hex.EncodeToString(d[:])),
	} {
		ps, err := ParsePins(ok)
		if err != nil || len(ps) != 1 || ps[0] != d {
			t.Errorf("%q: %x %v", ok, ps, err)
		}
	}
	if ps, err := ParsePins("sha256:" + std + " , sha256:" + hex.EncodeToString(d[:])); err != nil || len(ps) != 2 {
		t.Errorf("two pins: %v %v", ps, err)
	}
	for in, want := range map[string]string{
		"":                         "does not start with sha256:",
		std:                        "does not start with sha256:",
		"sha1:" + std:              "does not start with sha256:",
		"sha256:":                  "the digest is 0 bytes, not 32",
		"sha256:" + std[:20]:       "not 32",
		"sha256:!!!":               "neither base64 nor 64 hex digits",
		"sha256:" + std + ",":      `certificate pin ""`,
		"sha256:" + std + ",bogus": `certificate pin "bogus"`,
	} {
		if _, err := ParsePins(in); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "the rendezvous prints it at start") {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
}

func TestCertPin(t *testing.T) {
	self, _ := selfSigned(t)
	sum := sha256.Sum256(self.Leaf.RawSubjectPublicKeyInfo)
	want := "sha256:" + base64.StdEncoding.EncodeToString(sum[:])
	if got := CertPin(self.Leaf); got != want {
		t.Fatalf("CertPin = %s, want %s", got, want)
	}
	noLeaf := self
	noLeaf.Leaf = nil
	if got, err := TLSCertPin(noLeaf); err != nil || got != want {
		t.Fatalf("TLSCertPin without Leaf = %s %v", got, err)
	}
	if _, err := TLSCertPin(tls.Certificate{}); err == nil || !strings.Contains(err.Error(), "holds no certificate") {
		t.Fatalf("empty certificate: %v", err)
	}
	// The pin round-trips through ParsePins.
	ps, err := ParsePins(want)
	if err != nil || ps[0] != sum {
		t.Fatalf("ParsePins(CertPin) = %x %v", ps, err)
	}
}

func TestClientTLSConfigErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for _, tc := range []struct {
		o    TLSOptions
		want string
	}{
		{TLSOptions{CAFile: filepath.Join(t.TempDir(), "none.pem")}, "CA file: open "},
		{TLSOptions{CAFile: notPEM}, "CA file " + notPEM + ": no PEM certificate in it"},
		{TLSOptions{Pin: "md5:x"}, `certificate pin "md5:x"`},
	} {
		if _, err := ClientTLSConfig(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
	}
	cfg, err := ClientTLSConfig(TLSOptions{})
	if err != nil || cfg.RootCAs != nil || cfg.InsecureSkipVerify || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("zero options: %+v %v", cfg, err)
	}
}

func TestWebSocketEnviron(t *testing.T) {
	cfg := WebSocketConfig{CAFile: "/etc/ca.pem", Pin: "sha256:abc"}
	env := cfg.Environ()
	if strings.Join(env, " ") != "MESHNODE_WS_CA_FILE=/etc/ca.pem MESHNODE_WS_PIN=sha256:abc" {
		t.Fatalf("Environ = %q", env)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv(EnvWebSocketServerName, "")
	if got := WebSocketConfigFromEnv(); got != cfg {
		t.Fatalf("from env: %+v, want %+v", got, cfg)
	}
}
