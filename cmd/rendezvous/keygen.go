package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/relay"
)

// keygenCommand makes a new auth key and prints it as a line of the keys file.
func keygenCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "make an auth key: prints a line for the auth-keys file",
		UsageText: "rendezvous keygen [--label NAME] [--groups G1,G2] [--expires DATE]",
		Description: `Prints a new key as a line of the rendezvous' auth-keys file, with the
label, groups and expiry given. Append it to the file and reload the rendezvous
(SIGHUP); give the key (the line's first word) to the node, in the file its
--auth-key-file names. Example:

   rendezvous keygen --label alice --groups home,lab --expires 2027-07-01`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "label", Usage: "a `NAME` for the key in logs (letters, digits, ._-@)"},
			&cli.StringFlag{Name: "groups", Usage: "the group `NAMES` (comma-separated) the key may join; default any"},
			&cli.StringFlag{Name: "expires", Usage: "`DATE` (YYYY-MM-DD, 00:00 UTC) or RFC 3339 time after which the key is refused"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("keygen takes no arguments, got %q (see rendezvous keygen --help)", c.Args().Slice())
			}
			key, err := relay.GenerateAuthKey()
			if err != nil {
				return err
			}
			line := key.Encode()
			for _, f := range []string{"label", "groups", "expires"} {
				if v := c.String(f); v != "" {
					if strings.ContainsAny(v, " \t#") {
						return fmt.Errorf("--%s %q: no spaces or '#' (the keys file splits fields at spaces)", f, v)
					}
					line += " " + f + "=" + v
				}
			}
			// Check the line as the server will read it.
			ks, err := relay.ParseAuthKeys("the new key", line)
			if err != nil {
				return err
			}
			if k := ks.List()[0]; !k.Expires.IsZero() && k.Expires.Before(time.Now()) {
				fmt.Fprintf(e.stderr, "note: the key has expired already (%s)\n", k.Expires.UTC().Format(time.RFC3339))
			}
			fmt.Fprintln(c.App.Writer, line)
			fmt.Fprintln(e.stderr, "# append the line above to the rendezvous' auth-keys file (mode 0600) and send it SIGHUP;\n"+
				"# give the node the key (the first word) in its --auth-key-file (mode 0600).")
			return nil
		},
	}
}
