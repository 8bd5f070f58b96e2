package control

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// apiKeyPrefix marks generated keys, so one found in a file or a log is
// recognisable (and secret scanners can match it).
const apiKeyPrefix = "mnak_"

// minAPIKeyLen is the shortest key a key file may hold.
const minAPIKeyLen = 16

// LoadOrCreateAPIKey reads the HTTP API's key from path, creating the file
// (0600, 32 random bytes) when it does not exist. A file readable by other
// users is refused; so is a key shorter than 16 characters. The key is the
// file's first line, trimmed.
func LoadOrCreateAPIKey(path string) (key string, created bool, err error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := createAPIKey(path)
		return key, err == nil, err
	}
	if err != nil {
		return "", false, fmt.Errorf("API key file: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", false, fmt.Errorf("API key file %s is readable by other users (mode %04o); chmod 600 it", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("API key file: %w", err)
	}
	key, _, _ = strings.Cut(string(b), "\n")
	key = strings.TrimSpace(key)
	if len(key) < minAPIKeyLen {
		return "", false, fmt.Errorf("API key file %s: the key is %d characters; want at least %d (delete the file to have one generated)", path, len(key), minAPIKeyLen)
	}
	if strings.ContainsAny(key, " \t\r") {
		return "", false, fmt.Errorf("API key file %s: the key contains white space", path)
	}
	return key, false, nil
}

func createAPIKey(path string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("API key: %w", err)
	}
	key := apiKeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("API key file directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("API key file: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("API key file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("API key file: %w", err)
	}
	return key, nil
}

// keyMatches compares a presented key with the API's in constant time (of
// the hashes, so neither the key's length nor a prefix leaks).
func keyMatches(given, key string) bool {
	if given == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
