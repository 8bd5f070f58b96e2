package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// File is a parsed config file: its top-level settings and section items.
type File struct {
	Path     string
	values   map[string]fileVal
	sections map[string][]*Item
}

type fileVal struct {
	v   any
	pos Pos
}

// Item is one [SECTION.NAME] table of a file.
type Item struct {
	Section string
	Name    string
	Pos     Pos // of its header
	sec     *Section
	values  map[string]fileVal
}

// Items returns the section's items in file order.
func (f *File) Items(section string) []*Item {
	if f == nil {
		return nil
	}
	return f.sections[section]
}

// Has says whether the item sets key.
func (it *Item) Has(key string) bool {
	_, ok := it.values[key]
	return ok
}

// Get returns the item's value for key, or the key's default.
func (it *Item) Get(key string) any {
	if v, ok := it.values[key]; ok {
		return v.v
	}
	for i := range it.sec.Keys {
		if it.sec.Keys[i].Name == key {
			return it.sec.Keys[i].zero()
		}
	}
	panic(fmt.Sprintf("config: section %q has no key %q", it.Section, key))
}

// String, Int and Bool return the item's value for key (or its default).
func (it *Item) String(key string) string { return it.Get(key).(string) }
func (it *Item) Int(key string) int       { return it.Get(key).(int) }
func (it *Item) Bool(key string) bool     { return it.Get(key).(bool) }

// Ref names the item in messages: "[serve.ssh]".
func (it *Item) Ref() string { return "[" + it.Section + "." + quoteKey(it.Name) + "]" }

// Errorf returns an error about the item's key (its header when key is "")
// naming the file, the line and the key.
func (it *Item) Errorf(key, format string, args ...any) error {
	pos, k := it.Pos, it.Section+"."+quoteKey(it.Name)
	if key != "" {
		if v, ok := it.values[key]; ok {
			pos = v.pos
		}
		k += "." + key
	}
	return &PosError{Pos: pos, Key: k, Err: fmt.Errorf(format, args...)}
}

func quoteKey(k string) string {
	for _, r := range k {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Sprintf("%q", k)
		}
	}
	return k
}

// Load reads and parses the config file at path for the table.
func (t *Table) Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return t.Parse(path, data)
}

// Parse parses a config file's text for the table. Every error names the file,
// and where it can the line and the key.
func (t *Table) Parse(path string, data []byte) (*File, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := pe.Message
			if st := t.Setting(pe.LastKey); st != nil && st.Secret {
				msg = "cannot parse the value (not shown: secret); TOML strings need quotes"
			}
			return nil, &PosError{Pos: Pos{File: path, Line: pe.Position.Line}, Key: pe.LastKey, Err: errors.New(msg)}
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	lines := keyLines(string(data))
	pos := func(parts ...string) Pos {
		for k := len(parts); k > 0; k-- {
			if l, ok := lines[join(parts[:k])]; ok {
				return Pos{File: path, Line: l}
			}
		}
		return Pos{File: path}
	}
	f := &File{Path: path, values: map[string]fileVal{}, sections: map[string][]*Item{}}
	for _, key := range sortedKeys(raw, lines, nil) {
		v := raw[key]
		if sec := t.Section(key); sec != nil {
			items, ok := v.(map[string]any)
			if !ok {
				return nil, &PosError{Pos: pos(key), Key: key, Err: fmt.Errorf("want [%s.%s] tables, got %s", key, sec.itemsWord(), describe(v))}
			}
			for _, name := range sortedKeys(items, lines, []string{key}) {
				it, err := t.parseItem(sec, name, items[name], pos)
				if err != nil {
					return nil, err
				}
				f.sections[key] = append(f.sections[key], it)
			}
			continue
		}
		s := t.Setting(key)
		if s == nil || s.FlagOnly {
			return nil, &PosError{Pos: pos(key), Key: key, Err: fmt.Errorf("unknown key%s", t.suggest(key))}
		}
		gv, err := fromTOML(s.Kind, v)
		if err != nil {
			if s.Secret { // the message may quote the value
				err = fmt.Errorf("want a %s, got another type (value not shown: secret)", s.Kind)
			}
			return nil, &PosError{Pos: pos(key), Key: key, Err: err}
		}
		f.values[key] = fileVal{v: gv, pos: pos(key)}
	}
	return f, nil
}

func (t *Table) parseItem(sec *Section, name string, v any, pos func(...string) Pos) (*Item, error) {
	it := &Item{Section: sec.Name, Name: name, Pos: pos(sec.Name, name), sec: sec, values: map[string]fileVal{}}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &PosError{Pos: pos(sec.Name, name), Key: sec.Name + "." + quoteKey(name),
			Err: fmt.Errorf("want a table [%s.%s], got %s", sec.Name, quoteKey(name), describe(v))}
	}
	for _, k := range sortedKeys(m, nil, nil) {
		var ks *Setting
		for i := range sec.Keys {
			if sec.Keys[i].Name == k {
				ks = &sec.Keys[i]
			}
		}
		p := pos(sec.Name, name, k)
		full := sec.Name + "." + quoteKey(name) + "." + k
		if ks == nil {
			var names []string
			for _, s := range sec.Keys {
				names = append(names, s.Name)
			}
			return nil, &PosError{Pos: p, Key: full, Err: fmt.Errorf("unknown key in a [%s.%s] section (keys: %s)", sec.Name, sec.itemsWord(), strings.Join(names, ", "))}
		}
		gv, err := fromTOML(ks.Kind, m[k])
		if err != nil {
			return nil, &PosError{Pos: p, Key: full, Err: err}
		}
		it.values[k] = fileVal{v: gv, pos: p}
	}
	for _, ks := range sec.Keys {
		if ks.Required && !it.Has(ks.Name) {
			return nil, &PosError{Pos: it.Pos, Key: sec.Name + "." + quoteKey(name), Err: fmt.Errorf("%s has no %s (required)", it.Ref(), ks.Name)}
		}
	}
	return it, nil
}

func (s *Section) itemsWord() string {
	if s.Items != "" {
		return s.Items
	}
	return "NAME"
}

// sortedKeys returns m's keys in file order (by line; unknown lines last, by name).
func sortedKeys(m map[string]any, lines map[string]int, prefix []string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	line := func(k string) int {
		if l, ok := lines[join(append(append([]string(nil), prefix...), k))]; ok {
			return l
		}
		return math.MaxInt
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := line(keys[i]), line(keys[j])
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// fromTOML converts a decoded TOML value to kind k, or says what is wrong.
func fromTOML(k Kind, v any) (any, error) {
	switch k {
	case String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Int:
		if n, ok := v.(int64); ok {
			if n < math.MinInt32 || n > math.MaxInt32 {
				return nil, fmt.Errorf("%d is out of range", n)
			}
			return int(n), nil
		}
	case Duration:
		if s, ok := v.(string); ok {
			d, err := time.ParseDuration(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a duration (such as \"30s\" or \"5m\")", s)
			}
			return d, nil
		}
	case List:
		switch l := v.(type) {
		case string:
			return []string{l}, nil
		case []any:
			out := make([]string, 0, len(l))
			for _, e := range l {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("want an array of strings, got an element that is %s", describe(e))
				}
				out = append(out, s)
			}
			return out, nil
		}
	}
	want := map[Kind]string{String: "a string", Bool: "true or false", Int: "an integer",
		Duration: "a duration string such as \"30s\"", List: "an array of strings"}[k]
	return nil, fmt.Errorf("want %s, got %s", want, describe(v))
}

// describe names a decoded TOML value's type, with the value when short.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			return "a string"
		}
		return fmt.Sprintf("a string (%q)", x)
	case int64:
		return fmt.Sprintf("an integer (%d)", x)
	case float64:
		return fmt.Sprintf("a float (%v)", x)
	case bool:
		return fmt.Sprintf("a boolean (%v)", x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date"
	}
	return fmt.Sprintf("a %T", v)
}

// suggest returns ` (did you mean "x"?)` for a key close to a known one, or
// the list of keys.
func (t *Table) suggest(key string) string {
	best, bestD := "", 3
	var names []string
	for _, s := range t.Settings {
		if s.FlagOnly {
			continue
		}
		names = append(names, s.Name)
		if d := distance(key, s.Name); d < bestD {
			best, bestD = s.Name, d
		}
	}
	for _, sec := range t.Sections {
		names = append(names, "["+sec.Name+"."+sec.itemsWord()+"]")
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (keys: " + strings.Join(names, ", ") + ")"
}

// distance is the Levenshtein distance of two short strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
