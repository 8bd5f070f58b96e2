package lab

import (
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"SET": "v", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"$SET ${SET}", "v v"},
		{"$UNSET ${UNSET}", "$UNSET ${UNSET}"}, // containerlab leaves unknown variables alone
		{"${UNSET:=d} ${UNSET:-d} ${UNSET=d} ${UNSET-d}", "d d d d"},
		{"${EMPTY:=d}|${EMPTY=d}|${EMPTY:-d}|${EMPTY-d}", "d||d|"},
		{"${SET:=d}", "v"},
		{"${SET:+alt}|${UNSET:+alt}|${EMPTY:+alt}|${EMPTY+alt}", "alt|||alt"},
		{"$$SET $$ $$$$", "$SET $ $$"},
		{"${UNSET:=${SET}x}", "vx"},
		{"${UNSET:=a b:c/d}", "a b:c/d"},
		{"$1 ${1} $ x$", "$1 ${1} $ x$"},
		{"a$SET-b", "av-b"},
	}
	for _, c := range cases {
		got, err := Expand(c.in, lookup)
		if err != nil || got != c.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"${UNTERMINATED", "${X?err}", "${}", "${X/a/b}"} {
		if got, err := Expand(bad, lookup); err == nil {
			t.Errorf("Expand(%q) = %q, want an error", bad, got)
		}
	}
}

func TestReferences(t *testing.T) {
	refs, err := References("a ${A:=1} $B ${C:-${D:=2}} $$E")
	if err != nil {
		t.Fatal(err)
	}
	want := []VarRef{{Name: "A", Op: ":=", Default: "1"}, {Name: "B"}, {Name: "C", Op: ":-", Default: "${D:=2}"}, {Name: "D", Op: ":=", Default: "2"}}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("References = %+v, want %+v", refs, want)
	}
}

func TestSplitCommand(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"ip addr add 10.0.0.1/24 dev eth1", []string{"ip", "addr", "add", "10.0.0.1/24", "dev", "eth1"}},
		{`sh -c 'echo $HOME > /tmp/x; true'`, []string{"sh", "-c", "echo $HOME > /tmp/x; true"}},
		{`echo "a \"b\" \\ c" d\ e`, []string{"echo", `a "b" \ c`, "d e"}},
		{"echo a # comment", []string{"echo", "a"}},
		{"echo a#b", []string{"echo", "a#b"}},
		{`x ''`, []string{"x", ""}},
		{"  ", nil},
	}
	for _, c := range cases {
		got, err := SplitCommand(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`echo 'a`, `echo "a`, `echo a\`} {
		if _, err := SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q): want an error", bad)
		}
	}
}
