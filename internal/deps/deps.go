// Package deps pins third-party modules in go.mod that the issues in progress
// (NAT testbed, gossip catalog, ICE, plugins) are about to use, so parallel work on
// them does not edit go.mod at once. Each line goes when real code imports it.
package deps

import (
	_ "github.com/hashicorp/go-plugin"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "golang.org/x/sys/unix"
	_ "gopkg.in/yaml.v3"
)
