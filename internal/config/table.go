package config

import (
	"fmt"
	"strings"
	"time"
)

// Kind is the type of a setting's value.
type Kind int

// The kinds of values. A List is a string list: a repeatable flag, a TOML
// array of strings (or one string), one string in the environment.
const (
	String Kind = iota
	Bool
	Int
	Duration
	List
)

func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Bool:
		return "bool"
	case Int:
		return "integer"
	case Duration:
		return "duration"
	case List:
		return "list of strings"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Setting is one row of a command's table: a flag, its environment variable
// and its config-file key, which are all the same setting.
type Setting struct {
	Name    string   // long flag name and TOML key
	Aliases []string // short flag names (flag only)
	Env     string   // environment variable; "" = none
	Kind    Kind
	Default any // string, bool, int, time.Duration or []string; nil = the kind's zero value
	// Usage is the help text; a `WORD` in backquotes is the flag's placeholder.
	Usage string
	// Doc is the README's "meaning" column; "" = Usage without backquotes.
	Doc      string
	Secret   bool // never printed: --print-config shows <set>
	Live     bool // a reload applies it at once; otherwise "restart needed"
	Required bool // must be set somewhere (flag, env or file)
	Global   bool // an app-level flag (given before or after any verb)
	// FlagOnly: a flag with no config-file key (and no reload), such as
	// meshnode's repeatable --serve, whose file form is a section.
	FlagOnly bool
}

// Section is a kind of named item in the file: [NAME.ITEM] tables whose keys
// are Keys (vnet's [serve.ssh], [use.ssh]).
type Section struct {
	Name  string
	Doc   string    // one line for the README
	Keys  []Setting // Name, Kind, Default, Doc/Usage, Required are used
	Live  bool      // a reload applies changed items
	Items string    // placeholder for the item name in docs, e.g. "NAME"
}

// Table is a command's settings.
type Table struct {
	Command  string // "meshnode up", "rendezvous": for messages
	Settings []Setting
	Sections []Section
}

// Setting returns the setting called name, or nil.
func (t *Table) Setting(name string) *Setting {
	for i := range t.Settings {
		if t.Settings[i].Name == name {
			return &t.Settings[i]
		}
	}
	return nil
}

// Section returns the section called name, or nil.
func (t *Table) Section(name string) *Section {
	for i := range t.Sections {
		if t.Sections[i].Name == name {
			return &t.Sections[i]
		}
	}
	return nil
}

// Check reports a table that contradicts itself: duplicate names, defaults of
// the wrong type, a section named like a setting. Tests call it.
func (t *Table) Check() error {
	seen := map[string]bool{}
	for _, s := range t.Settings {
		if s.Name == "" || strings.ContainsAny(s.Name, " .=\"") {
			return fmt.Errorf("setting %q: bad name", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("setting %q twice", s.Name)
		}
		seen[s.Name] = true
		if s.Default != nil {
			if _, err := checkKind(s.Kind, s.Default); err != nil {
				return fmt.Errorf("setting %q: default: %w", s.Name, err)
			}
		}
		if s.Usage == "" {
			return fmt.Errorf("setting %q has no usage text", s.Name)
		}
	}
	for _, sec := range t.Sections {
		if seen[sec.Name] && !t.Setting(sec.Name).FlagOnly {
			return fmt.Errorf("section %q has the name of a setting", sec.Name)
		}
		keys := map[string]bool{}
		for _, k := range sec.Keys {
			if keys[k.Name] {
				return fmt.Errorf("section %q: key %q twice", sec.Name, k.Name)
			}
			keys[k.Name] = true
		}
	}
	return nil
}

// zero returns the setting's default, or the zero value of its kind.
func (s *Setting) zero() any {
	if s.Default != nil {
		return s.Default
	}
	switch s.Kind {
	case Bool:
		return false
	case Int:
		return 0
	case Duration:
		return time.Duration(0)
	case List:
		return []string(nil)
	}
	return ""
}

// checkKind says whether v is a Go value of kind k (as Values hold them).
func checkKind(k Kind, v any) (any, error) {
	ok := false
	switch k {
	case String:
		_, ok = v.(string)
	case Bool:
		_, ok = v.(bool)
	case Int:
		_, ok = v.(int)
	case Duration:
		_, ok = v.(time.Duration)
	case List:
		_, ok = v.([]string)
	}
	if !ok {
		return nil, fmt.Errorf("%T is not a %s", v, k)
	}
	return v, nil
}
