package packaging

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// unit is a parsed systemd unit file: section -> key -> values in order.
type unit struct {
	path     string
	sections map[string]map[string][]string
}

// readUnit parses a unit file (comments, sections, Key=Value, continuation
// lines): enough of systemd.syntax(7) for the units we ship.
func readUnit(path string) (*unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := &unit{path: path, sections: map[string]map[string][]string{}}
	var sec string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, `\`) && sc.Scan() {
			n++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(sc.Text())
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = line[1 : len(line)-1]
			if u.sections[sec] == nil {
				u.sections[sec] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				return nil, fmt.Errorf("%s:%d: not Key=Value in a section: %q", path, n, line)
			}
			u.sections[sec][strings.TrimSpace(k)] = append(u.sections[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// get returns the last value of key in section ("" if absent), as systemd
// does for single-valued settings.
func (u *unit) get(section, key string) string {
	vs := u.sections[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// specifiers expands the unit specifiers we use (%i, %I, %%) for instance.
func specifiers(s, instance string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q ends with a lone %%", s)
		}
		i++
		switch s[i] {
		case 'i', 'I':
			if instance == "" {
				return "", fmt.Errorf("%q uses %%%c outside an instance", s, s[i])
			}
			b.WriteString(instance)
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("%q: specifier %%%c is not handled by this test", s, s[i])
		}
	}
	return b.String(), nil
}

// commandLine splits an Exec*= value into words as systemd does for our
// units: a leading "-@:+!" prefix is dropped, words are separated by blanks,
// double or single quotes group, and $NAME / ${NAME} come from env.
func commandLine(v string, env map[string]string) ([]string, error) {
	v = strings.TrimLeft(v, "-@:+!")
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	flush := func() {
		if in {
			words = append(words, w.String())
			w.Reset()
			in = false
		}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			flush()
		case c == '$':
			name := ""
			if i+1 < len(v) && v[i+1] == '{' {
				end := strings.IndexByte(v[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("%q: unterminated ${", v)
				}
				name, i = v[i+2:i+end], i+end
			} else {
				j := i + 1
				for j < len(v) && (v[j] == '_' || v[j] >= 'A' && v[j] <= 'Z' || v[j] >= '0' && v[j] <= '9') {
					j++
				}
				name, i = v[i+1:j], j-1
			}
			val, ok := env[name]
			if !ok {
				return nil, fmt.Errorf("%q: $%s is not set for this test", v, name)
			}
			w.WriteString(val)
			in = true
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q: unterminated quote", v)
	}
	flush()
	if len(words) == 0 {
		return nil, fmt.Errorf("empty command line")
	}
	return words, nil
}
