package config

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// shown formats a value for people: secrets as <set> (or <not set>).
func (s *Setting) shown(val Value) string {
	if s.Secret {
		if val.Set && val.V != "" {
			return "<set>"
		}
		return "<not set>"
	}
	return Format(s.Kind, val.V)
}

// origin says where a value came from, for --print-config.
func (v *Values) origin(s *Setting, val Value) string {
	switch val.Source {
	case FromFlag:
		return "flag --" + s.Name
	case FromEnv:
		return "env " + s.Env
	case FromFile:
		return "file " + val.Pos.String()
	}
	if s.Required {
		return "MISSING: required"
	}
	return "default"
}

// Print writes the merged configuration in TOML syntax, each value with its
// source, secrets as <set>, then the file's section items.
func (v *Values) Print(w io.Writer) error {
	fmt.Fprintf(w, "# %s: merged configuration (flag > env > file > default)\n", v.table.Command)
	if v.File != nil {
		fmt.Fprintf(w, "# config file: %s\n", v.File.Path)
	} else {
		fmt.Fprintln(w, "# config file: none")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for i := range v.table.Settings {
		s := &v.table.Settings[i]
		val := v.vals[s.Name]
		if s.FlagOnly {
			if val.Set {
				fmt.Fprintf(tw, "# --%s\t= %s\t# flag (no file key)\n", s.Name, s.shown(val))
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t= %s\t# %s\n", s.Name, s.shown(val), v.origin(s, val))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, sec := range v.table.Sections {
		for _, it := range v.File.Items(sec.Name) {
			fmt.Fprintf(w, "\n%s\t# file %s\n", it.Ref(), it.Pos)
			tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
			for _, k := range sec.Keys {
				src := "default"
				if fv, ok := it.values[k.Name]; ok {
					src = "file " + fv.pos.String()
				}
				fmt.Fprintf(tw, "%s\t= %s\t# %s\n", k.Name, Format(k.Kind, it.Get(k.Name)), src)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Markdown returns the README's table of the file's keys, then one table per
// section: generated, so docs and flags cannot drift.
func (t *Table) Markdown() string {
	var b strings.Builder
	b.WriteString("| key = flag | env | type | default | on reload | meaning |\n|---|---|---|---|---|---|\n")
	for i := range t.Settings {
		s := &t.Settings[i]
		if s.FlagOnly {
			continue
		}
		env := ""
		if s.Env != "" {
			env = "`" + s.Env + "`"
		}
		def := ""
		switch {
		case s.Required:
			def = "required"
		case s.Default != nil && !isZero(s):
			def = "`" + Format(s.Kind, s.Default) + "`"
		}
		reload := "restart"
		if s.Live {
			reload = "live"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", s.Name, env, s.Kind, def, reload, mdText(s))
	}
	for _, sec := range t.Sections {
		fmt.Fprintf(&b, "\n`[%s.%s]` sections: %s (on reload: %s)\n\n", sec.Name, sec.itemsWord(), sec.Doc, map[bool]string{true: "live", false: "restart"}[sec.Live])
		b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
		for i := range sec.Keys {
			k := &sec.Keys[i]
			def := ""
			switch {
			case k.Required:
				def = "required"
			case k.Default != nil && !isZero(k):
				def = "`" + Format(k.Kind, k.Default) + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name, k.Kind, def, mdText(k))
		}
	}
	return b.String()
}

func mdText(s *Setting) string {
	d := s.Doc
	if d == "" {
		d = plain(s.Usage)
	}
	if s.Secret {
		d += " (secret: never printed)"
	}
	return strings.ReplaceAll(d, "|", `\|`)
}

func isZero(s *Setting) bool {
	switch v := s.Default.(type) {
	case string:
		return v == ""
	case bool:
		return !v
	case []string:
		return len(v) == 0
	}
	return false
}
