package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/config"
)

// buildFrom builds `up`'s configuration from a config file's text.
func buildFrom(t *testing.T, text string) (*upConfig, error) {
	t.Helper()
	a := newApp(&env{lookupEnv: envOf(nil)})
	f, err := a.table.Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := a.table.Resolve(config.Sources{File: f, LookupEnv: envOf(nil)}, false)
	if err != nil {
		t.Fatal(err)
	}
	return a.buildUp(vals)
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "api"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	cert, key = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, key
}

func TestAPIConfig(t *testing.T) {
	dir := t.TempDir()
	state := "state = \"" + dir + "\"\n"
	u, err := buildFrom(t, baseConfig+state)
	if err != nil || u.api.addr != "" {
		t.Fatalf("off by default: %+v %v", u.api, err)
	}
	u, err = buildFrom(t, baseConfig+state+"api = \"on\"\n")
	if err != nil || u.api.addr != "127.0.0.1:7750" || u.api.keyFile != filepath.Join(dir, "api.key") || u.api.tls != nil {
		t.Fatalf("api on: %+v %v", u.api, err)
	}
	for _, w := range u.warnings {
		if strings.Contains(w, "WITHOUT TLS") {
			t.Fatalf("a warning for loopback: %q", w)
		}
	}
	u, err = buildFrom(t, baseConfig+state+"api = \"0.0.0.0:7750\"\napi-key-file = \"/etc/k\"\n")
	if err != nil || u.api.keyFile != "/etc/k" {
		t.Fatalf("api on all interfaces: %+v %v", u.api, err)
	}
	if len(u.warnings) != 1 || !strings.Contains(u.warnings[0], "THE HTTP API LISTENS ON 0.0.0.0:7750 WITHOUT TLS") {
		t.Fatalf("no loud warning for plain HTTP off loopback: %q", u.warnings)
	}
	cert, key := selfSigned(t, dir)
	u, err = buildFrom(t, baseConfig+state+"api = \"0.0.0.0:7750\"\napi-tls-cert = \""+cert+"\"\napi-tls-key = \""+key+"\"\n")
	if err != nil || u.api.tls == nil || len(u.api.tls.Certificates) != 1 || len(u.warnings) != 0 {
		t.Fatalf("api with TLS: %+v %q %v", u.api, u.warnings, err)
	}
	os.Chmod(key, 0o644)
	if _, err := buildFrom(t, baseConfig+state+"api = \"on\"\napi-tls-cert = \""+cert+"\"\napi-tls-key = \""+key+"\"\n"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable TLS key: %v", err)
	}
}
