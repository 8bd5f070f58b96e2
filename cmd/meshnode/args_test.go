package main

import (
	"strings"
	"testing"
)

// TestNormalize: the argument order urfave needs, from what people type.
func TestNormalize(t *testing.T) {
	app := newApp(&env{}).cli
	for _, tc := range []struct {
		in   string
		want string // or the error's text
	}{
		{"map 700 2222 --bind 0.0.0.0", "map --bind 0.0.0.0 -- 700 2222"},
		{"map 700 2222 --bind=0.0.0.0", "map --bind=0.0.0.0 -- 700 2222"},
		{"map --bind 0.0.0.0 700 2222", "map --bind 0.0.0.0 -- 700 2222"},
		{"serve add 710 127.0.0.1:22 --name web", "serve add --name web -- 710 127.0.0.1:22"},
		{"serve add 710 --info 'a b' 127.0.0.1:22 --json", "serve add --info 'a b' --json -- 710 127.0.0.1:22"},
		{"serve --control /c add 0 h:1", "--control /c serve add -- 0 h:1"},
		{"ping home --count 3", "ping --count 3 -- home"},
		{"ping home -c 3 -i 1s", "ping -c 3 -i 1s -- home"},
		{"status --state /s --json", "--state /s status --json"},
		{"--json status", "status --json"},
		{"--state /s --json peers --control /c", "--state /s --control /c peers --json"},
		{"status --control=/c", "--control=/c status"},
		{"up --group g --config f.toml", "--config f.toml up --group g"},
		{"up --serve 700=h:1,name=x --relay-only", "up --serve 700=h:1,name=x --relay-only"},
		{"unmap -- 2222", "unmap -- 2222"},
		{"ping -- --weird-name", "ping -- --weird-name"},
		{"map 700 2222 -- --bind", "map -- 700 2222 --bind"},
		{"map 700 2222 --nope", "map --nope -- 700 2222"}, // urfave reports it
		{"serve", "serve"},
		{"help map", "help map"},
		{"--version", "--version"},
		{"", ""},
		{"frobnicate 1", `unknown verb "frobnicate"; verbs: up, down, reload, map`},
		{"serve zap 1", `unknown serve verb "zap"; serve verbs: add, rm, ls`},
		{"--json unmap 3", `--json: 'meshnode unmap' prints no JSON`},
		{"unmap 3 --json", `--json: 'meshnode unmap' prints no JSON`},
		{"--bind 1.2.3.4 map 700 1", `unknown verb "1.2.3.4" (after --bind: flags other than --state`},
		{"--bind", `--bind before a verb`},
	} {
		in := append([]string{"meshnode"}, shellWords(tc.in)...)
		got, err := normalize(app, in)
		if err != nil {
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
			}
			continue
		}
		if want := append([]string{"meshnode"}, shellWords(tc.want)...); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%q: got %q, want %q", tc.in, got[1:], want[1:])
		}
	}
}

// shellWords splits on spaces, keeping 'quoted words' together.
func shellWords(s string) []string {
	var out []string
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'')
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		w, rest, _ := strings.Cut(s, " ")
		out = append(out, w)
		s = rest
	}
	return out
}
