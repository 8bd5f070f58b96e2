package config

import "sort"

// Change is a setting whose merged value differs between two Values.
type Change struct {
	Name     string
	Old, New string // formatted; secrets as <set>
	Live     bool   // a reload may apply it; else it needs a restart
}

// Diff lists the settings whose values differ from old to new, in table order.
func Diff(old, new *Values) []Change {
	var out []Change
	for i := range new.table.Settings {
		s := &new.table.Settings[i]
		if s.FlagOnly {
			continue
		}
		a, b := old.vals[s.Name], new.vals[s.Name]
		if equal(a.V, b.V) {
			continue
		}
		c := Change{Name: s.Name, Old: s.shown(a), New: s.shown(b), Live: s.Live}
		if s.Secret {
			c.Old, c.New = "<set>", "<changed>"
		}
		out = append(out, c)
	}
	return out
}

// Keys lists the names of changes, sorted.
func Keys(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	sort.Strings(out)
	return out
}
