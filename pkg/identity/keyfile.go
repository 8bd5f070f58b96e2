package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFileMode is the permission of key files. LoadOrCreate refuses key files that
// group or others can access.
const KeyFileMode = 0o600

// LoadOrCreate reads the private key at path, or creates a new one there (0600,
// parent directories 0700) when the file does not exist. created reports which.
func LoadOrCreate(path string) (key PrivateKey, created bool, err error) {
	key, err = Load(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key, err = GeneratePrivateKey()
	if err != nil {
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return key, false, fmt.Errorf("create key directory: %w", err)
	}
	// O_EXCL: never overwrite a key another process created in the meantime.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, KeyFileMode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			key, err = Load(path)
			return key, false, err
		}
		return key, false, fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(marshalPrivate(key)); err != nil {
		f.Close()
		os.Remove(path)
		return key, false, fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return key, false, fmt.Errorf("write key file %s: %w", path, err)
	}
	return key, true, nil
}

// Load reads a private key file. It fails with fs.ErrNotExist (wrapped) when the file
// is missing, and with a clear error when the file is readable by group or others or
// is malformed.
func Load(path string) (PrivateKey, error) {
	var key PrivateKey
	st, err := os.Stat(path)
	if err != nil {
		return key, fmt.Errorf("key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return key, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return key, fmt.Errorf("key file %s has mode %04o: it must not be accessible by group or others (chmod 600 %s)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return key, fmt.Errorf("read key file: %w", err)
	}
	key, err = parsePrivate(b)
	if err != nil {
		return key, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}
