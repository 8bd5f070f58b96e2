package doccheck

import (
	"path"
	"strings"
)

// Command is a command line found in a text.
type Command struct {
	Line int      // where it starts (1-based)
	Text string   // as written (continuations joined)
	Args []string // the program's arguments (after its name)
	Prog string   // the program's name
}

// Markdown returns the command lines of progs in the fenced shell code blocks
// of md (no language, or sh, bash, shell, console).
func Markdown(md string, progs ...string) []Command {
	var out []Command
	var block []string
	start, fence, shell := 0, "", false
	for i, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case fence == "" && (strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~")):
			fence, start, block = t[:3], i+2, nil
			switch strings.TrimSpace(strings.TrimLeft(t, "`~")) {
			case "", "sh", "bash", "shell", "console":
				shell = true
			default:
				shell = false
			}
		case fence != "" && strings.HasPrefix(t, fence):
			if shell {
				out = append(out, Text(strings.Join(block, "\n"), start, progs...)...)
			}
			fence = ""
		case fence != "":
			block = append(block, line)
		}
	}
	return out
}

// Text returns the command lines of progs in a shell-like text whose first line
// is line first.
func Text(text string, first int, progs ...string) []Command {
	var out []Command
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		start := i
		l := lines[i]
		for strings.HasSuffix(strings.TrimRight(l, " \t"), `\`) && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(strings.TrimRight(l, " \t"), `\`) + " " + strings.TrimSpace(lines[i])
		}
		for _, cmd := range split(l) {
			if c, ok := find(cmd, progs); ok {
				c.Line = first + start
				out = append(out, c)
			}
		}
	}
	return out
}

// split cuts a shell line into simple commands (words), dropping comments and
// redirections (`>> file`, `2>/dev/null`, `< in`).
func split(line string) [][]string {
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord := false
	skip := false // the next word is a redirection's target
	var quote byte
	flushWord := func() {
		if inWord {
			if !skip {
				words = append(words, w.String())
			}
			w.Reset()
			inWord, skip = false, false
		}
	}
	flushCmd := func() {
		flushWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quote != 0 {
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(line) {
				i++
				w.WriteByte(line[i])
			} else {
				w.WriteByte(c)
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote, inWord = c, true
		case ' ', '\t':
			flushWord()
		case '#':
			if inWord {
				w.WriteByte(c)
				continue
			}
			flushCmd()
			return cmds
		case '>', '<':
			if inWord && strings.Trim(w.String(), "0123456789") == "" {
				w.Reset() // a file descriptor: 2>
				inWord = false
			}
			flushWord()
			for i+1 < len(line) && (line[i+1] == '>' || line[i+1] == '&') {
				i++
			}
			skip = true
		case ';', '|', '&', '(', ')':
			flushCmd()
		case '\\':
			if i+1 < len(line) {
				i++
				w.WriteByte(line[i])
				inWord = true
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flushCmd()
	return cmds
}

// find returns the command of one of progs within words.
func find(words []string, progs []string) (Command, bool) {
	for i, w := range words {
		if i > 0 && strings.HasPrefix(words[i-1], "-") {
			continue // a flag's value: `-o bin/meshnode`
		}
		for _, p := range progs {
			if w == p || path.Base(w) == p && path.Base(path.Dir(w)) == "bin" {
				return Command{Text: strings.Join(words, " "), Args: words[i+1:], Prog: p}, true
			}
		}
	}
	return Command{}, false
}
