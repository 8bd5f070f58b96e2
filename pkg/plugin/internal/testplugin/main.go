// Command testplugin is a cipher and transport plugin for pkg/plugin's tests.
// It is a transport when its executable's name contains "transport", else a
// cipher. The rest of its behaviour comes from the environment (the node's,
// which plugins inherit):
//
//	TESTPLUGIN_VERSION=N      serve contract version N instead of the current
//	TESTPLUGIN_HANG_FILE=F    while F exists, every call blocks (a hung plugin)
//	TESTPLUGIN_ENV_FILE=F     write the environment it got to F.EXECUTABLE, one entry a line
//
// The cipher is Noise IK like the built-in (ChaCha20-Poly1305, BLAKE2s) under
// the suite name "test-suite"; the transport dials plain TCP.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flynn/noise"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/meshnode/meshnode/pkg/plugin"
	"github.com/meshnode/meshnode/pkg/seal"
)

func main() {
	if f := os.Getenv("TESTPLUGIN_ENV_FILE"); f != "" {
		if err := os.WriteFile(f+"."+filepath.Base(os.Args[0]), []byte(strings.Join(os.Environ(), "\n")), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "testplugin:", err)
			os.Exit(1)
		}
	}
	if v, err := strconv.Atoi(os.Getenv("TESTPLUGIN_VERSION")); err == nil && v != plugin.ProtocolVersion {
		hc := plugin.HandshakeConfig()
		hc.ProtocolVersion = uint(v)
		goplugin.Serve(&goplugin.ServeConfig{HandshakeConfig: hc, Plugins: goplugin.PluginSet{}, GRPCServer: goplugin.DefaultGRPCServer})
		return
	}
	if strings.Contains(filepath.Base(os.Args[0]), "transport") {
		plugin.ServeTransport(tcp{})
		return
	}
	plugin.ServeCipher(cipher{})
}

// hang blocks while the hang file exists.
func hang() {
	f := os.Getenv("TESTPLUGIN_HANG_FILE")
	for f != "" {
		if _, err := os.Stat(f); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type tcp struct{}

func (tcp) Info() plugin.Info { hang(); return plugin.Info{Name: "test", Version: "t1"} }

func (tcp) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

type cipher struct{}

func (cipher) Info() plugin.Info {
	hang()
	return plugin.Info{Name: "test", Version: "t1", Suite: "test-suite"}
}

func (cipher) NewHandshake(req plugin.HandshakeRequest) (plugin.ServerHandshake, error) {
	hang()
	cs := noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s)
	return plugin.NoiseIK(req, cs, "test-suite", seal.AEADChaChaPoly)
}
