package config

import (
	"fmt"
	"strings"
)

// FlagSource gives the flags the user typed (urfave/cli's Context fits, via
// CLIFlags).
type FlagSource interface {
	IsSet(name string) bool
	Value(s *Setting) any // the flag's value, of the setting's kind
}

// Sources are the inputs of a merge besides the defaults.
type Sources struct {
	Flags     FlagSource                  // nil: no flags
	LookupEnv func(string) (string, bool) // nil: no environment
	File      *File                       // nil: no config file
}

// Resolve merges flags, environment, file and defaults (in that precedence)
// into Values. A bad environment value is an error naming the variable;
// required settings that nowhere got a value are an error unless
// allowMissing (--print-config shows them as missing instead).
func (t *Table) Resolve(src Sources, allowMissing bool) (*Values, error) {
	v := &Values{table: t, vals: make(map[string]Value, len(t.Settings)), File: src.File}
	var missing []string
	for i := range t.Settings {
		s := &t.Settings[i]
		val := Value{V: s.zero()}
		if src.File != nil && !s.FlagOnly {
			if fv, ok := src.File.values[s.Name]; ok {
				val = Value{V: fv.v, Source: FromFile, Pos: fv.pos, Set: true}
			}
		}
		if s.Env != "" && src.LookupEnv != nil {
			if e, ok := src.LookupEnv(s.Env); ok {
				ev, err := parseText(s.Kind, e)
				if err != nil {
					if s.Secret {
						return nil, fmt.Errorf("%s: not a %s", s.Env, s.Kind)
					}
					return nil, fmt.Errorf("%s: %w", s.Env, err)
				}
				val = Value{V: ev, Source: FromEnv, Set: true}
			}
		}
		if src.Flags != nil && src.Flags.IsSet(s.Name) {
			val = Value{V: src.Flags.Value(s), Source: FromFlag, Set: true}
		}
		if s.Required && !val.Set {
			missing = append(missing, s.Name)
		}
		v.vals[s.Name] = val
	}
	if len(missing) > 0 && !allowMissing {
		s := t.Setting(missing[0])
		how := "--" + s.Name
		if s.Env != "" {
			how += ", " + s.Env
		}
		return v, fmt.Errorf("required setting %q not set: give %s or %s = ... in a --config file", s.Name, how, s.Name)
	}
	return v, nil
}

// Missing lists the required settings without a value.
func (v *Values) Missing() []string {
	var out []string
	for _, s := range v.table.Settings {
		if s.Required && !v.vals[s.Name].Set {
			out = append(out, s.Name)
		}
	}
	return out
}

// plain drops the backquotes of a usage text.
func plain(usage string) string { return strings.ReplaceAll(usage, "`", "") }
