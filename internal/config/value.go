package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Source is where a value came from.
type Source int

// Sources, lowest precedence first.
const (
	FromDefault Source = iota
	FromFile
	FromEnv
	FromFlag
)

func (s Source) String() string {
	switch s {
	case FromFlag:
		return "flag"
	case FromEnv:
		return "env"
	case FromFile:
		return "file"
	}
	return "default"
}

// Value is a setting's merged value and where it came from.
type Value struct {
	V      any // string, bool, int, time.Duration or []string, by the setting's Kind
	Source Source
	Pos    Pos  // for FromFile
	Set    bool // not a default (the value was given somewhere)
}

// Pos is a place in a config file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Values is a command's merged configuration.
type Values struct {
	table *Table
	vals  map[string]Value
	File  *File // the parsed config file, nil without one
}

// Get returns the value of a setting of the table (it panics on a name that
// is not in the table: a programming error).
func (v *Values) Get(name string) Value {
	val, ok := v.vals[name]
	if !ok {
		panic(fmt.Sprintf("config: no setting %q in the table of %s", name, v.table.Command))
	}
	return val
}

// String returns a String setting's value.
func (v *Values) String(name string) string { return v.Get(name).V.(string) }

// Bool returns a Bool setting's value.
func (v *Values) Bool(name string) bool { return v.Get(name).V.(bool) }

// Int returns an Int setting's value.
func (v *Values) Int(name string) int { return v.Get(name).V.(int) }

// Duration returns a Duration setting's value.
func (v *Values) Duration(name string) time.Duration { return v.Get(name).V.(time.Duration) }

// List returns a List setting's value.
func (v *Values) List(name string) []string { return v.Get(name).V.([]string) }

// IsSet says whether the setting was given (flag, env or file).
func (v *Values) IsSet(name string) bool { return v.Get(name).Set }

// Ref names the setting as the user gave it: "--name" for a flag (and for a
// default), the variable for env, the key for the file. Errors use it.
func (v *Values) Ref(name string) string {
	val := v.Get(name)
	switch val.Source {
	case FromEnv:
		return v.table.Setting(name).Env
	case FromFile:
		return name
	}
	return "--" + name
}

// Errorf returns an error about the setting name; one whose value came from the
// file starts with the file, line and key ("f.toml:3: key \"x\": ...").
// Messages name the setting with Ref.
func (v *Values) Errorf(name, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	val := v.Get(name)
	if val.Source == FromFile {
		return &PosError{Pos: val.Pos, Key: name, Err: err}
	}
	return err
}

// PosError is an error about a key of a config file.
type PosError struct {
	Pos Pos
	Key string // dotted: "group", "serve.ssh.target"
	Err error
}

func (e *PosError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s: %v", e.Pos, e.Err)
	}
	return fmt.Sprintf("%s: key %q: %v", e.Pos, e.Key, e.Err)
}

func (e *PosError) Unwrap() error { return e.Err }

// Format prints a value for --print-config and reload messages (TOML syntax).
func Format(k Kind, v any) string {
	switch k {
	case Bool:
		return strconv.FormatBool(v.(bool))
	case Int:
		return strconv.Itoa(v.(int))
	case Duration:
		return strconv.Quote(v.(time.Duration).String())
	case List:
		l := v.([]string)
		q := make([]string, len(l))
		for i, s := range l {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return strconv.Quote(v.(string))
}

// equal compares two values of one kind.
func equal(a, b any) bool {
	if la, ok := a.([]string); ok {
		return slices.Equal(la, b.([]string))
	}
	return a == b
}

// parseText turns an environment value into kind k.
func parseText(k Kind, s string) (any, error) {
	switch k {
	case Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean (true or false)", s)
		}
		return b, nil
	case Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return n, nil
	case Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (such as 30s or 5m)", s)
		}
		return d, nil
	case List:
		if s == "" {
			return []string(nil), nil
		}
		return []string{s}, nil
	}
	return s, nil
}
