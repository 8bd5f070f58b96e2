package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/internal/doccheck"
)

var update = flag.Bool("update", false, "rewrite the generated parts of README.md")

// parses checks that a documented command line parses against the real CLI
// (verb, flags, argument counts) without running anything.
func parses(t *testing.T, where string, c doccheck.Command) {
	t.Helper()
	code, _, errOut := runT(t, &env{parseOnly: true}, c.Args...)
	if code != 0 {
		t.Errorf("%s:%d: %q does not parse: %s", where, c.Line, c.Text, strings.TrimSpace(errOut))
	}
}

// TestCommandTree walks every verb: it has usage text, its help prints, and
// the examples in its help parse.
func TestCommandTree(t *testing.T) {
	a := newApp(&env{})
	examples := 0
	walk(a.cli.Commands, nil, func(path []string, c *cli.Command) {
		name := strings.Join(path, " ")
		if c.Usage == "" {
			t.Errorf("%s has no usage text", name)
		}
		if len(c.Subcommands) == 0 && c.Action == nil {
			t.Errorf("%s has no action", name)
		}
		code, out, errOut := runT(t, nil, append(append([]string{}, path...), "--help")...)
		if code != 0 || !strings.Contains(out, "meshnode "+name) {
			t.Errorf("%s --help: exit %d, %q %q", name, code, out, errOut)
		}
		for _, ex := range doccheck.Text(c.Description, 1, "meshnode") {
			examples++
			parses(t, "help of "+name, ex)
		}
	})
	if examples < 8 {
		t.Errorf("only %d examples in the help texts", examples)
	}
}

// TestREADMECommandLines: every meshnode command line in the READMEs' code
// blocks parses as written.
func TestREADMECommandLines(t *testing.T) {
	for _, file := range []string{"../../README.md", "../../testbed/README.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cmds := doccheck.Markdown(string(b), "meshnode")
		if len(cmds) == 0 {
			t.Errorf("%s: no meshnode command lines found", file)
		}
		for _, c := range cmds {
			parses(t, file, c)
		}
	}
}

// TestREADMEConfigTable: the README's table of config keys is the one the
// settings table generates (go test -run TestREADMEConfigTable -update
// rewrites it).
func TestREADMEConfigTable(t *testing.T) {
	const file = "../../README.md"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := upTable().Markdown()
	if *update {
		nd, err := doccheck.Replace(string(b), "meshnode-config-keys", want)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(nd), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := doccheck.Generated(string(b), "meshnode-config-keys")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("README's config key table differs from the settings table; run go test ./cmd/meshnode -run TestREADMEConfigTable -update\n--- README\n%s\n--- generated\n%s", got, want)
	}
}

func TestTableIsConsistent(t *testing.T) {
	if err := upTable().Check(); err != nil {
		t.Fatal(err)
	}
}

// TestREADMEConfigExample: the README's TOML examples load with `up`'s table.
func TestREADMEConfigExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	for _, block := range strings.Split(string(b), "```toml\n")[1:] {
		text, _, _ := strings.Cut(block, "```")
		blocks++
		if _, err := upTable().Parse("README.md toml block", []byte(text)); err != nil {
			t.Errorf("README's config example: %v", err)
		}
	}
	if blocks == 0 {
		t.Fatal("no toml block in README.md")
	}
}
