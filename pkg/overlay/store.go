package overlay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// stateFile is where the node keeps what the control API changed (mappings,
// services added with `serve add`), so they come back after a restart. It holds
// service targets: 0600, like the key.
const stateFile = "state.json"

type savedState struct {
	Mappings []api.MappingRequest `json:"mappings"`
	Services []Service            `json:"services,omitempty"`
}

func loadState(dir string) (savedState, error) {
	var st savedState
	if dir == "" {
		return st, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("state file %s is corrupt: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// saveState writes atomically (temp file + rename), 0600.
func saveState(dir string, st savedState) error {
	if dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(dir, stateFile, append(b, '\n')); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// writeFileAtomic writes dir/name through a temp file and a rename, 0600.
func writeFileAtomic(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}

// versionFile holds the last version of this node's catalog entry (decimal), so
// versions only grow across restarts.
const versionFile = "catalog-version"

// loadVersion returns the saved version; without a state dir (or a saved
// version), the wall clock in nanoseconds, which a restart also exceeds.
func loadVersion(dir string) (uint64, error) {
	if dir == "" {
		return uint64(time.Now().UnixNano()), nil
	}
	b, err := os.ReadFile(filepath.Join(dir, versionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return uint64(time.Now().UnixNano()), nil
	}
	if err != nil {
		return 0, fmt.Errorf("read catalog version: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("catalog version file %s is corrupt (delete it to start over): %w", filepath.Join(dir, versionFile), err)
	}
	return v, nil
}

// saveVersion writes v atomically.
func saveVersion(dir string, v uint64) error {
	if dir == "" {
		return nil
	}
	return writeFileAtomic(dir, versionFile, []byte(strconv.FormatUint(v, 10)+"\n"))
}
