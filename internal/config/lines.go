package config

import (
	"strings"
)

// keyLines finds the line of every key and table header in a TOML text:
// path (parts joined by "\x00") -> line (1-based). BurntSushi/toml keeps key
// positions to itself, so this scanner reads the same text again. It follows
// table headers, bare, quoted and dotted keys, and skips multi-line strings
// and arrays; keys it cannot place (inside inline tables) fall back to their
// table's line in the caller.
func keyLines(text string) map[string]int {
	out := map[string]int{}
	var table []string
	var inString string // `"""` or `'''` while inside a multi-line string
	depth := 0          // open [ and { of a value spanning lines
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		s := line
		if inString != "" {
			j := strings.Index(s, inString)
			if j < 0 {
				continue
			}
			s = s[j+3:]
			depth, inString = scanValue(s, depth)
			continue
		}
		if depth > 0 {
			depth, inString = scanValue(s, depth)
			continue
		}
		t := strings.TrimSpace(s)
		if t == "" || t[0] == '#' {
			continue
		}
		if strings.HasPrefix(t, "[") {
			arr := strings.HasPrefix(t, "[[")
			h := strings.TrimLeft(t, "[")
			end := strings.Index(h, "]")
			if end < 0 {
				continue
			}
			parts, ok := splitKey(h[:end])
			if !ok {
				continue
			}
			table = parts
			if _, seen := out[join(parts)]; !seen || !arr {
				out[join(parts)] = n
			}
			continue
		}
		eq := keyEnd(t)
		if eq < 0 {
			continue
		}
		parts, ok := splitKey(t[:eq])
		if !ok {
			continue
		}
		full := append(append([]string(nil), table...), parts...)
		out[join(full)] = n
		// Dotted keys define their parent tables where they first appear.
		for k := len(table) + 1; k < len(full); k++ {
			if _, seen := out[join(full[:k])]; !seen {
				out[join(full[:k])] = n
			}
		}
		depth, inString = scanValue(t[eq+1:], 0)
	}
	return out
}

func join(parts []string) string { return strings.Join(parts, "\x00") }

// keyEnd returns the index of the '=' after a key, skipping quoted parts.
func keyEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\'':
			j := strings.IndexByte(s[i+1:], s[i])
			if j < 0 {
				return -1
			}
			i += j + 1
		case '=':
			return i
		}
	}
	return -1
}

// splitKey splits a (possibly dotted, possibly quoted) key into its parts.
func splitKey(k string) ([]string, bool) {
	var parts []string
	k = strings.TrimSpace(k)
	for k != "" {
		var part string
		switch k[0] {
		case '"', '\'':
			j := strings.IndexByte(k[1:], k[0])
			if j < 0 {
				return nil, false
			}
			part, k = k[1:j+1], k[j+2:]
		default:
			j := strings.IndexByte(k, '.')
			if j < 0 {
				j = len(k)
			}
			part, k = strings.TrimSpace(k[:j]), k[j:]
		}
		parts = append(parts, part)
		k = strings.TrimSpace(k)
		if k == "" {
			break
		}
		if k[0] != '.' {
			return nil, false
		}
		k = strings.TrimSpace(k[1:])
	}
	return parts, len(parts) > 0
}

// scanValue follows a value's text: it returns the bracket depth left open at
// the end of the line and the delimiter of a multi-line string left open.
func scanValue(s string, depth int) (int, string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '#':
			return depth, ""
		case '[', '{':
			depth++
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '"', '\'':
			delim := string([]byte{c, c, c})
			if strings.HasPrefix(s[i:], delim) {
				j := strings.Index(s[i+3:], delim)
				if j < 0 {
					return depth, delim
				}
				i += j + 5
				continue
			}
			for j := i + 1; j < len(s); j++ {
				if c == '"' && s[j] == '\\' {
					j++
					continue
				}
				if s[j] == c {
					i = j
					break
				}
			}
		}
	}
	return depth, ""
}
