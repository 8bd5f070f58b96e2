package identity

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/crypto/blake2s"
)

// GroupID identifies a group's name at the rendezvous. It is derived from the
// name only; the namespace nodes meet in is the GroupKey (see the package doc).
type GroupID [32]byte

// Short returns a short hex form for logs.
func (g GroupID) Short() string { return hex.EncodeToString(g[:5]) }

// String returns the full hex form.
func (g GroupID) String() string { return hex.EncodeToString(g[:]) }

// MaxGroupNameLen bounds group names.
const MaxGroupNameLen = 64

// MinSecretLen is the shortest group secret accepted.
const MinSecretLen = 8

// ValidateGroupName checks a group name: 1..64 printable characters, no spaces.
func ValidateGroupName(name string) error {
	if name == "" {
		return errors.New("group name is empty")
	}
	if len(name) > MaxGroupNameLen {
		return fmt.Errorf("group name is %d bytes long; the limit is %d", len(name), MaxGroupNameLen)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("group name %q contains a space or control character", name)
		}
	}
	return nil
}

// ValidateSecret checks a group secret without ever printing it.
func ValidateSecret(secret string) error {
	s := strings.TrimSpace(secret)
	if s == "" {
		return errors.New("group secret is empty")
	}
	if len(s) < MinSecretLen {
		return fmt.Errorf("group secret is too short (%d characters; at least %d, better 20 or more random ones)", len(s), MinSecretLen)
	}
	return nil
}

// DeriveGroupID returns the rendezvous-visible identifier of a group name.
func DeriveGroupID(group string) GroupID {
	h, _ := blake2s.New256(nil)
	h.Write([]byte("meshnode group id v1\x00"))
	h.Write([]byte(group))
	var g GroupID
	copy(g[:], h.Sum(nil))
	return g
}
