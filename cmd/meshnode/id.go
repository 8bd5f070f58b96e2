package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/identity"
)

func (a *app) idCommand() *cli.Command {
	return &cli.Command{
		Name:  "id",
		Usage: "print this node's ID: asked from the running node (--control), else read from the key in the state dir",
		Action: a.verb("", func(c *cli.Context) error {
			g, err := a.globals(c)
			if err != nil {
				return err
			}
			cl, _ := a.client(c)
			if st, err := cl.Status(c.Context); err == nil {
				fmt.Fprintln(c.App.Writer, st.ID)
				return nil
			}
			k, err := identity.Load(g.keyPath())
			if err != nil {
				return fmt.Errorf("no node answers on %s, and %w (the key is created by the first `meshnode up`)", g.control, err)
			}
			fmt.Fprintln(c.App.Writer, k.Public().String())
			return nil
		}),
	}
}
