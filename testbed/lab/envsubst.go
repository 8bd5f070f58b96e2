package lab

import (
	"fmt"
	"strings"
)

// Lookup finds the value of a topology variable; ok is false when it is not set.
type Lookup func(name string) (value string, ok bool)

// VarRef is one reference to a variable in a topology file.
type VarRef struct {
	Name    string
	Op      string // "", "-", ":-", "=", ":=", "+", ":+"
	Default string // the text after Op, unexpanded
}

// Expand substitutes variable references in s the way containerlab does for
// topology files (envsubst with "no digit" and "no replace" restrictions):
//
//	${VAR} $VAR      value of VAR; left as written when VAR is not set
//	${VAR:-x} ${VAR:=x}  x when VAR is unset or empty (":=" does NOT assign:
//	                 every occurrence needs its own default)
//	${VAR-x} ${VAR=x}    x when VAR is unset
//	${VAR:+x} ${VAR+x}   x when VAR is set (and not empty for ":+"), else ""
//	$$               a literal "$" (so "$$VAR" reaches the node as "$VAR")
//	$1 ...           left as written
//
// A nil lookup means no variable is set.
func Expand(s string, lookup Lookup) (string, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var b strings.Builder
	_, err := expand(s, lookup, &b, nil)
	return b.String(), err
}

// References lists the variable references in s, in order of appearance
// (including the ones nested in defaults).
func References(s string) ([]VarRef, error) {
	var refs []VarRef
	var b strings.Builder
	_, err := expand(s, func(string) (string, bool) { return "", false }, &b, &refs)
	return refs, err
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// expand writes the expansion of s to b and returns the number of bytes of s consumed.
func expand(s string, lookup Lookup, b *strings.Builder, refs *[]VarRef) (int, error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		n := s[i+1]
		switch {
		case n == '$':
			b.WriteByte('$')
			i += 2
		case n == '{':
			end, err := matchBrace(s, i+1)
			if err != nil {
				return i, err
			}
			if err := expandBraced(s[i:end+1], s[i+2:end], lookup, b, refs); err != nil {
				return i, err
			}
			i = end + 1
		case isNameStart(n):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			name := s[i+1 : j]
			if refs != nil {
				*refs = append(*refs, VarRef{Name: name})
			}
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i:j])
			}
			i = j
		default: // "$1", "$ ", "$-": literal
			b.WriteByte('$')
			i++
		}
	}
	return len(s), nil
}

// matchBrace returns the index of the "}" closing the "{" at s[open], honouring nesting.
func matchBrace(s string, open int) (int, error) {
	depth := 0
	for j := open; j < len(s); j++ {
		switch s[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j, nil
			}
		}
	}
	line := 1 + strings.Count(s[:open], "\n")
	return 0, fmt.Errorf("line %d: unterminated ${ in %q", line, clip(s[open-1:], 40))
}

func clip(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < n {
		return s[:i]
	}
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// expandBraced handles one ${...}; whole is the full text, inner what is between the braces.
func expandBraced(whole, inner string, lookup Lookup, b *strings.Builder, refs *[]VarRef) error {
	j := 0
	for j < len(inner) && isNameChar(inner[j]) {
		j++
	}
	name := inner[:j]
	if name == "" || !isNameStart(name[0]) {
		if name != "" { // ${1}: left as written
			b.WriteString(whole)
			return nil
		}
		return fmt.Errorf("bad variable reference %q", whole)
	}
	rest := inner[j:]
	op := ""
	for _, o := range []string{":-", ":=", ":+", "-", "=", "+"} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" && rest != "" {
		return fmt.Errorf("unsupported expansion %q (want ${VAR}, ${VAR:=default}, ${VAR:-default}, ${VAR:+alt} or their forms without ':')", whole)
	}
	arg := rest[len(op):]
	if refs != nil {
		*refs = append(*refs, VarRef{Name: name, Op: op, Default: arg})
	}
	v, set := lookup(name)
	useArg := false
	switch op {
	case "":
		if !set {
			b.WriteString(whole)
			return nil
		}
	case ":-", ":=":
		useArg = !set || v == ""
	case "-", "=":
		useArg = !set
	case ":+":
		useArg, v = set && v != "", ""
	case "+":
		useArg, v = set, ""
	}
	if !useArg {
		b.WriteString(v)
		return nil
	}
	_, err := expand(arg, lookup, b, refs)
	return err
}
