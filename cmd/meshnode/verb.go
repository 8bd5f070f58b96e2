package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/control/client"
)

// args is how many positional arguments a verb takes: names are its
// ArgsUsage words, the last optional ones in [brackets].
type args string

// counts returns the least and most arguments.
func (a args) counts() (lo, hi int) {
	for _, w := range strings.Fields(string(a)) {
		hi++
		if !strings.HasPrefix(w, "[") {
			lo++
		}
	}
	return lo, hi
}

// check names what is wrong with the number of arguments.
func (a args) check(name string, c *cli.Context) error {
	lo, hi := a.counts()
	n := c.NArg()
	switch {
	case n >= lo && n <= hi:
		return nil
	case hi == 0:
		return fmt.Errorf("%s takes no arguments, got %q", name, c.Args().Slice())
	case n < lo:
		return fmt.Errorf("%s wants %s, got %d argument%s", name, a, n, plural(n))
	}
	return fmt.Errorf("%s wants %s, got %d arguments: %q is one too many", name, a, n, c.Args().Get(hi))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// verb builds the action of a command taking args: it checks the argument
// count, and in parse-only mode stops there.
func (a *app) verb(want args, run func(c *cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := want.check(a.names[c.Command], c); err != nil {
			return err
		}
		if a.env.parseOnly {
			return nil
		}
		return run(c)
	}
}

// jsonFlag is the --json flag of the verbs that print (a new one per command:
// urfave flags keep state).
func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON"} }

// client returns a control client for the node --control / --state point at.
func (a *app) client(c *cli.Context) (*client.Client, error) {
	g, err := a.globals(c)
	if err != nil {
		return nil, err
	}
	return client.New(g.control), nil
}
