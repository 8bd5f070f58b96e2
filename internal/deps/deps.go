// Package deps pins the project's third-party modules in go.mod while the packages
// that use them are being written in parallel. Delete it once every module below is
// imported by real code.
package deps

import (
	_ "github.com/flynn/noise"
	_ "github.com/hashicorp/go-plugin"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/pion/ice/v2"
	_ "github.com/pion/stun"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/urfave/cli/v2"
	_ "github.com/xtaci/kcp-go/v5"
	_ "github.com/xtaci/smux"
	_ "golang.org/x/crypto/blake2s"
	_ "golang.org/x/sys/unix"
	_ "gopkg.in/yaml.v3"
)
