package identity

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPublicKeyRoundTrip(t *testing.T) {
	k, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public()
	s := pub.String()
	if len(s) != IDLen {
		t.Fatalf("ID length %d, want %d", len(s), IDLen)
	}
	got, err := ParsePublicKey(strings.ToUpper(s))
	if err != nil {
		t.Fatal(err)
	}
	if got != pub {
		t.Fatal("round trip changed the key")
	}
	if !strings.HasPrefix(s, pub.Short()) {
		t.Fatal("Short is not a prefix of String")
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "want 52"},
		{"abc", "want 52"},
		{strings.Repeat("1", IDLen), "not base32"},
	} {
		_, err := ParsePublicKey(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePublicKey(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestSharedSecretAgrees(t *testing.T) {
	a, _ := GeneratePrivateKey()
	b, _ := GeneratePrivateKey()
	s1, err := a.SharedSecret(b.Public())
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.SharedSecret(a.Public())
	if err != nil {
		t.Fatal(err)
	}
	if s1 != s2 {
		t.Fatal("DH values differ")
	}
	if _, err := a.SharedSecret(PublicKey{}); err == nil {
		t.Fatal("low-order point accepted")
	}
}

func TestPrivateKeyNeverPrints(t *testing.T) {
	k, _ := GeneratePrivateKey()
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %#v", k, k, k)} {
		if strings.Contains(s, string(marshalPrivate(k)[:10])) {
			t.Fatalf("private key leaked in %q", s)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "node.key")
	k1, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != KeyFileMode {
		t.Fatalf("mode %o, want %o", st.Mode().Perm(), KeyFileMode)
	}
	k2, created, err := LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("load: %v created=%v", err, created)
	}
	if k1 != k2 {
		t.Fatal("reloaded key differs")
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good, _ := GeneratePrivateKey()
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"open.key", string(marshalPrivate(good)), 0o644, "must not be accessible"},
		{"junk.key", "not a key", 0o600, "not base64"},
		{"short.key", "AAAA\n", 0o600, "want 32 bytes"},
		{"zero.key", string(marshalPrivate(PrivateKey{})), 0o600, "all-zero"},
	} {
		_, err := Load(write(tc.name, tc.content, tc.mode))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestGroupDerivations(t *testing.T) {
	if DeriveGroupID("home") == DeriveGroupID("office") {
		t.Fatal("different groups share an ID")
	}
	derive := func(name, secret string) Group {
		t.Helper()
		g, err := DeriveGroup(name, secret)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	home := derive("home", "s3cret-s3cret")
	if home.ID != DeriveGroupID("home") {
		t.Fatal("DeriveGroup's ID is not the name's ID")
	}
	office := derive("office", "s3cret-s3cret")
	if home.PSK == office.PSK || home.Key == office.Key {
		t.Fatal("one secret gives the same keys in two groups")
	}
	again := derive("home", "s3cret-s3cret\n")
	if again.PSK != home.PSK || again.Key != home.Key {
		t.Fatal("a trailing newline changes the keys")
	}
	other := derive("home", "s3cret-s3creu")
	if other.PSK == home.PSK || other.Key == home.Key {
		t.Fatal("different secrets share keys")
	}
	if home.PSK == [32]byte(home.Key) {
		t.Fatal("the PSK equals the public admission key")
	}
}

func TestAdmissionSignature(t *testing.T) {
	g, err := DeriveGroup("home", "correct-horse-battery")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("challenge")
	sig, err := g.SignAdmission(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyAdmission(g.Key, msg, &sig) {
		t.Fatal("a good signature does not verify")
	}
	if VerifyAdmission(g.Key, []byte("challengf"), &sig) {
		t.Fatal("a signature verifies over another message")
	}
	other, _ := DeriveGroup("home", "correct-horse-battera")
	if VerifyAdmission(other.Key, msg, &sig) {
		t.Fatal("a signature verifies under another group's key")
	}
	pub := Group{Key: g.Key}
	if _, err := pub.SignAdmission(msg); err == nil {
		t.Fatal("a group without the private key signed")
	}
	if _, err := DeriveGroup("home", "short"); err == nil {
		t.Fatal("a short secret was accepted")
	}
	if _, err := DeriveGroup("", "correct-horse-battery"); err == nil {
		t.Fatal("an empty group name was accepted")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		group, secret string
		want          string
	}{
		{"", "longenough", "group name is empty"},
		{"a b", "longenough", "space"},
		{strings.Repeat("g", 65), "longenough", "limit is 64"},
		{"home", "", "secret is empty"},
		{"home", "short", "too short"},
		{"home", "longenough", ""},
	} {
		err := ValidateGroupName(tc.group)
		if err == nil {
			err = ValidateSecret(tc.secret)
		}
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q/%q: unexpected %v", tc.group, tc.secret, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.group, err, tc.want)
		} else if tc.secret != "" && strings.Contains(err.Error(), tc.secret) && tc.want != "" && strings.Contains(tc.want, "secret") {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}
