package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// StateDir holds one directory per running lab: its state file (so
	// `lab down`, `lab exec` and sweeps work from any process) and the nodes'
	// scratch directories. It is fixed: a sweep must see every lab that
	// could own a namespace named NetnsPrefix*.
	StateDir = "/run/meshnode-lab"
	// CLILabel marks labs brought up by `lab up`.
	CLILabel = "lab up"
	// NetnsPrefix starts the name of every namespace a lab creates:
	// NetnsPrefix + labID + "-" + node.
	NetnsPrefix = "mlab-"
	stateFile   = "state.json"
	reaperTag   = "meshnode-lab-reaper"
)

// State is what a running lab records about itself.
type State struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	File       string               `json:"file"`
	Label      string               `json:"label,omitempty"`
	Owner      int                  `json:"owner"`
	OwnerStart uint64               `json:"owner_start"`
	Reaper     int                  `json:"reaper,omitempty"`
	Created    time.Time            `json:"created"`
	Nodes      map[string]NodeState `json:"nodes"`
}

// NodeState is what `lab exec` needs to run a command in a node.
type NodeState struct {
	Netns string            `json:"netns"`
	Env   map[string]string `json:"env,omitempty"`
	Binds []Bind            `json:"binds,omitempty"`
}

// OwnerAlive tells whether the process that brought the lab up still runs.
func (s *State) OwnerAlive() bool { return processAlive(s.Owner, s.OwnerStart) }

// NodeNames returns the node names sorted.
func (s *State) NodeNames() []string {
	var names []string
	for n := range s.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *State) netns() []string {
	var out []string
	for _, n := range s.NodeNames() {
		out = append(out, s.Nodes[n].Netns)
	}
	return out
}

func writeState(dir string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

func readState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// List returns the running labs (recorded in StateDir), oldest first.
func List() ([]*State, error) {
	ents, err := os.ReadDir(StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		s, err := readState(filepath.Join(StateDir, e.Name()))
		if err != nil {
			continue // being created or half removed; Clean deals with it
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// CleanOptions select what Clean removes.
type CleanOptions struct {
	// Dead removes labs whose owner process is gone, and namespaces with
	// NetnsPrefix that belong to no recorded lab (leftovers of crashed runs).
	Dead bool
	// Owner removes the labs brought up by this process id.
	Owner int
	// IDs removes these labs (by id or topology name), whoever owns them.
	IDs []string
	// All removes every lab and every namespace with NetnsPrefix.
	All  bool
	Logf func(format string, args ...any)
}

// Clean tears down labs selected by opts: kills their processes, deletes their
// namespaces and state. It returns the ids (or namespace names) it removed.
// Labs owned by a live process are torn down under that process's feet: use
// it for labs whose owner is gone, or ask the owner first (SIGTERM).
func Clean(opts CleanOptions) ([]string, error) {
	dir := StateDir
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var removed []string
	var errs []error
	known := map[string]bool{}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		ldir := filepath.Join(dir, e.Name())
		known[e.Name()] = true
		s, err := readState(ldir)
		if err != nil {
			// No state: a lab being created (state comes first, within
			// milliseconds) or the remains of a crash during creation.
			if fi, serr := os.Stat(ldir); serr == nil && time.Since(fi.ModTime()) > time.Minute && (opts.Dead || opts.All) {
				if err := os.RemoveAll(ldir); err != nil {
					errs = append(errs, fmt.Errorf("remove %s: %w", ldir, err))
				}
			}
			continue
		}
		match := opts.All || (opts.Dead && !s.OwnerAlive()) || (opts.Owner != 0 && s.Owner == opts.Owner)
		for _, id := range opts.IDs {
			match = match || id == s.ID || id == s.Name
		}
		if !match {
			continue
		}
		logf("removing lab %s (%s, owner pid %d)", s.ID, s.Name, s.Owner)
		if err := teardown(s, ldir); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, s.ID)
	}
	if opts.Dead || opts.All {
		nss, err := listNetns(NetnsPrefix)
		if err != nil {
			errs = append(errs, err)
		}
		for _, ns := range nss {
			id, _, _ := strings.Cut(strings.TrimPrefix(ns, NetnsPrefix), "-")
			if known[id] && !opts.All {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, id)); err == nil && !opts.All {
				continue // created since we listed
			}
			logf("removing orphan namespace %s", ns)
			if err := killNetnsProcs(ns, 5*time.Second); err != nil {
				errs = append(errs, err)
			}
			if err := deleteNetns(ns); err != nil {
				errs = append(errs, err)
			}
			removed = append(removed, ns)
		}
	}
	return removed, errors.Join(errs...)
}

// teardown kills everything in the lab's namespaces, deletes them, stops the
// reaper and removes the lab directory.
func teardown(s *State, dir string) error {
	var errs []error
	for _, ns := range s.netns() {
		if !netnsExists(ns) {
			continue
		}
		if err := killNetnsProcs(ns, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range s.netns() {
		if err := deleteNetns(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Reaper > 0 && isReaper(s.Reaper) {
		_ = syscall.Kill(-s.Reaper, syscall.SIGKILL)
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("tear down lab %s: %w", s.ID, errors.Join(errs...))
	}
	return nil
}

func isReaper(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(b), reaperTag)
}

// Open attaches to a running lab by id or topology name ("" = the only
// running lab, or the only one brought up by `lab up`). The returned Lab runs commands in the nodes; its Down tears
// the lab down regardless of which process brought it up.
func Open(id string) (*Lab, error) {
	labs, err := List()
	if err != nil {
		return nil, err
	}
	var found []*State
	for _, s := range labs {
		if id == "" || s.ID == id || s.Name == id {
			found = append(found, s)
		}
	}
	if id == "" && len(found) > 1 { // prefer the one lab of `lab up` over test labs
		var cli []*State
		for _, s := range found {
			if s.Label == CLILabel {
				cli = append(cli, s)
			}
		}
		if len(cli) == 1 {
			found = cli
		}
	}
	switch {
	case len(found) == 0 && id == "":
		return nil, errors.New("no lab is running")
	case len(found) == 0:
		return nil, fmt.Errorf("no running lab with id or name %q", id)
	case len(found) > 1:
		var ids []string
		for _, s := range found {
			ids = append(ids, s.ID+" ("+s.Name+")")
		}
		return nil, fmt.Errorf("several labs match, pick one: %s", strings.Join(ids, ", "))
	}
	s := found[0]
	return &Lab{state: s, dir: filepath.Join(StateDir, s.ID), logf: func(string, ...any) {}}, nil
}

// waitGone waits until the lab directory disappears (its owner tore it down).
func waitGone(ctx context.Context, dir string) bool {
	for {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop asks the owner of a lab to tear it down (SIGTERM) and waits up to
// timeout; if the owner is gone or does not comply, the lab is torn down here.
func Stop(s *State, timeout time.Duration) error {
	dir := filepath.Join(StateDir, s.ID)
	if s.OwnerAlive() && s.Owner != os.Getpid() {
		if err := syscall.Kill(s.Owner, syscall.SIGTERM); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			gone := waitGone(ctx, dir)
			cancel()
			if gone {
				return nil
			}
		}
	}
	return teardown(s, dir)
}
