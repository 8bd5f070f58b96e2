package relay

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2s"
)

// An auth key is what a node needs to use a rendezvous that is not open: 32 random
// bytes, written "mnrk1_" + unpadded base64url (49 characters). The node proves it
// holds one in its ClientHello (see proto.go) and never sends it. Its id, which
// does cross the wire so the server knows which key to check, is 8 bytes of a hash
// of the key.

// AuthKeySize is the size of an auth key's secret.
const AuthKeySize = 32

// authKeyPrefix starts every auth key, so one is recognised in a file or a paste.
const authKeyPrefix = "mnrk1_"

// AuthSecret is an auth key's secret. It never appears in logs: String redacts it.
type AuthSecret [AuthKeySize]byte

// AuthKeyID names an auth key on the wire and in logs.
type AuthKeyID [authIDLen]byte

func (id AuthKeyID) String() string { return fmt.Sprintf("%x", id[:4]) }

// String redacts the secret.
func (s AuthSecret) String() string { return "[auth key]" }

// GoString redacts the secret for %#v as well.
func (s AuthSecret) GoString() string { return "relay.AuthSecret{[redacted]}" }

// Encode returns the key's text form (the secret: handle it like a password).
func (s AuthSecret) Encode() string {
	return authKeyPrefix + base64.RawURLEncoding.EncodeToString(s[:])
}

// ID returns the key's id.
func (s AuthSecret) ID() AuthKeyID {
	h, _ := blake2s.New256(nil)
	h.Write([]byte("meshnode auth key id v1\x00"))
	h.Write(s[:])
	var id AuthKeyID
	copy(id[:], h.Sum(nil))
	return id
}

// GenerateAuthKey returns a new random auth key.
func GenerateAuthKey() (AuthSecret, error) {
	var s AuthSecret
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("generate auth key: %w", err)
	}
	return s, nil
}

// ParseAuthSecret parses a key's text form. The error never contains the input
// (it may be a secret with a typo).
func ParseAuthSecret(text string) (AuthSecret, error) {
	var s AuthSecret
	if !strings.HasPrefix(text, authKeyPrefix) {
		return s, errors.New("not an auth key: it must start with " + authKeyPrefix + " (make one with `rendezvous keygen`)")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(text[len(authKeyPrefix):])
	if err != nil || len(b) != AuthKeySize {
		return s, fmt.Errorf("malformed auth key: want %s and %d base64url characters", authKeyPrefix, base64.RawURLEncoding.EncodedLen(AuthKeySize))
	}
	copy(s[:], b)
	if s == (AuthSecret{}) {
		return s, errors.New("auth key is all zero")
	}
	return s, nil
}

// ParseNodeAuthKey reads a node's auth key file: the first word of its first line
// that is not empty or a comment ('#'), so a line copied from the rendezvous' keys
// file (key, then label= and the like) works as is.
func ParseNodeAuthKey(content string) (AuthSecret, error) {
	for _, line := range strings.Split(content, "\n") {
		line, _, _ = strings.Cut(line, "#")
		if f := strings.Fields(line); len(f) > 0 {
			return ParseAuthSecret(f[0])
		}
	}
	return AuthSecret{}, errors.New("no auth key in the file (make one with `rendezvous keygen`)")
}
