package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// normalize puts a command line in the order urfave/cli parses: global flags,
// the verb (and subverb), the verb's flags, then "--" and the positional
// arguments. urfave stops parsing flags at the first positional argument, so
// without this `meshnode map 700 2222 --bind 0.0.0.0` would see "--bind" as an
// argument. Which words are flags and which flags take a value comes from the
// commands' own flag definitions; "--" ends flags; a global flag (--state,
// --control, --config) may follow the verb, and --json may precede it. An
// unknown verb is an error that lists the verbs. Unknown flags stay where
// urfave will report them.
func normalize(app *cli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	prog, rest := args[0], args[1:]
	globals := flagSet(app.Flags, true)
	var global, pre []string // pre: verb flags given before the verb (--json)
	i := 0
	for ; i < len(rest); i++ {
		w := rest[i]
		if w == "--" || !isFlag(w) {
			break
		}
		name, hasValue := flagName(w)
		if takes, ok := globals[name]; ok {
			global = append(global, w)
			if takes && !hasValue && i+1 < len(rest) {
				i++
				global = append(global, rest[i])
			}
			continue
		}
		pre = append(pre, w) // a verb's flag before the verb, or unknown
	}
	if i == len(rest) || rest[i] == "--" {
		if len(pre) > 0 {
			return nil, fmt.Errorf("%s before a verb: flags other than --state, --control and --config go after the verb (verbs: %s)", pre[0], verbNames(app.Commands))
		}
		return append(append([]string{prog}, global...), rest[i:]...), nil
	}
	verb := rest[i]
	if verb == "help" {
		return append(append(append([]string{prog}, global...), pre...), rest[i:]...), nil
	}
	cmd := findCommand(app.Commands, verb)
	if cmd == nil {
		hint := ""
		if len(pre) > 0 {
			hint = fmt.Sprintf(" (after %s: flags other than --state, --control, --config and --json go after the verb)", pre[len(pre)-1])
		}
		return nil, fmt.Errorf("unknown verb %q%s; verbs: %s (see 'meshnode --help')", verb, hint, verbNames(app.Commands))
	}
	path := []string{verb}
	rest = rest[i+1:]
	// A verb with subverbs (serve add|rm|ls): the first positional word names it.
	for len(cmd.Subcommands) > 0 {
		j := firstPositional(rest, cmd, globals)
		if j < 0 {
			break // `meshnode serve`: urfave shows its help
		}
		sub := findCommand(cmd.Subcommands, rest[j])
		if sub == nil {
			if rest[j] == "help" {
				break
			}
			return nil, fmt.Errorf("unknown %s verb %q; %s verbs: %s (see 'meshnode %s --help')", verb, rest[j], verb, verbNames(cmd.Subcommands), verb)
		}
		path = append(path, rest[j])
		rest = append(append([]string(nil), rest[:j]...), rest[j+1:]...)
		cmd = sub
	}
	own := flagSet(cmd.Flags, false)
	var flags, pos []string
	for _, w := range pre {
		name, _ := flagName(w)
		if _, ok := own[name]; !ok && name == "json" {
			return nil, fmt.Errorf("--json: 'meshnode %s' prints no JSON", strings.Join(path, " "))
		}
		flags = append(flags, w)
	}
	for k := 0; k < len(rest); k++ {
		w := rest[k]
		if w == "--" {
			pos = append(pos, rest[k+1:]...)
			break
		}
		if !isFlag(w) {
			pos = append(pos, w)
			continue
		}
		name, hasValue := flagName(w)
		takes, isOwn := own[name]
		dst := &flags
		if !isOwn {
			if t, ok := globals[name]; ok {
				takes, dst = t, &global
			} else if name == "json" {
				return nil, fmt.Errorf("--json: 'meshnode %s' prints no JSON", strings.Join(path, " "))
			}
		}
		*dst = append(*dst, w)
		if takes && !hasValue && k+1 < len(rest) {
			k++
			*dst = append(*dst, rest[k])
		}
	}
	out := append([]string{prog}, global...)
	out = append(out, path...)
	out = append(out, flags...)
	if len(pos) > 0 {
		out = append(append(out, "--"), pos...)
	}
	return out, nil
}

// isFlag says whether a word is a flag: "-x", "--name", "--name=v" (not "-",
// which is an argument).
func isFlag(w string) bool { return len(w) > 1 && w[0] == '-' }

// flagName returns a flag word's name and whether it carries its value (=).
func flagName(w string) (string, bool) {
	name := strings.TrimLeft(w, "-")
	name, _, hasValue := strings.Cut(name, "=")
	return name, hasValue
}

// flagSet maps every name and alias of flags to whether it takes a value;
// with app, the --help and --version flags urfave adds.
func flagSet(flags []cli.Flag, app bool) map[string]bool {
	m := map[string]bool{"help": false, "h": false}
	if app {
		m["version"], m["v"] = false, false
	}
	for _, f := range flags {
		takes := true
		if d, ok := f.(cli.DocGenerationFlag); ok {
			takes = d.TakesValue()
		}
		for _, n := range f.Names() {
			m[n] = takes
		}
	}
	return m
}

// firstPositional returns the index of the first word of args that is not a
// flag or a flag's value, or -1.
func firstPositional(args []string, cmd *cli.Command, globals map[string]bool) int {
	own := flagSet(cmd.Flags, false)
	for k := 0; k < len(args); k++ {
		w := args[k]
		if w == "--" {
			if k+1 < len(args) {
				return k + 1
			}
			return -1
		}
		if !isFlag(w) {
			return k
		}
		name, hasValue := flagName(w)
		takes, ok := own[name]
		if !ok {
			takes = globals[name]
		}
		if takes && !hasValue {
			k++
		}
	}
	return -1
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
