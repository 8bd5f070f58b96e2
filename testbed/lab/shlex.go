package lab

import (
	"fmt"
	"strings"
)

// SplitCommand splits an exec line into words the way containerlab does (a
// POSIX-shell-like lexer without expansion): whitespace separates words, single
// quotes keep everything literally, double quotes keep everything but let a
// backslash escape `"` and `\`, a backslash outside quotes escapes the next
// character, and a "#" starting a word begins a comment.
// There is no shell: use `sh -c '...'` for pipes, redirections and variables.
func SplitCommand(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("exec line %q ends with a backslash", line)
			}
			i++
			w.WriteByte(line[i])
			inWord = true
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("exec line %q has an unterminated single quote", line)
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
				}
				w.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, fmt.Errorf("exec line %q has an unterminated double quote", line)
			}
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
