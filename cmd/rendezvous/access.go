package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/meshnode/meshnode/pkg/relay"
)

// loadAuthKeys reads and checks the auth keys file. Like a key file, it must not
// be readable by other users; readable by the group gets a warning from the
// caller (warn is set).
func loadAuthKeys(path string) (ks *relay.AuthKeys, warn string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("auth-keys: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, "", fmt.Errorf("auth-keys %s is not a regular file", path)
	}
	perm := st.Mode().Perm()
	if perm&0o004 != 0 {
		return nil, "", fmt.Errorf("auth-keys %s is readable by every user (mode %04o): it holds secrets; chmod 600 %s", path, perm, path)
	}
	if perm&0o040 != 0 {
		warn = fmt.Sprintf("auth-keys %s is readable by its group (mode %04o); chmod 600 it unless that is intended", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("auth-keys: %w", err)
	}
	ks, err = relay.ParseAuthKeys(path, string(b))
	if err != nil {
		return nil, "", err
	}
	if ks.Len() == 0 {
		return nil, "", fmt.Errorf("auth-keys %s holds no key: every node would be refused (add one with `rendezvous keygen --label NAME >> %s`)", path, path)
	}
	return ks, warn, nil
}

// exposed returns the listen addresses (host:port) that other machines can
// reach: not loopback. A host name other than localhost counts as exposed.
func exposed(addrs ...string) []string {
	var out []string
	for _, a := range addrs {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			out = append(out, a)
			continue
		}
		if host == "localhost" {
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
			continue
		}
		out = append(out, a)
	}
	return out
}

// openRelayError explains why a public rendezvous without auth keys does not
// start, and what to do.
func openRelayError(addrs []string) error {
	return fmt.Errorf("refusing to listen on %s without auth keys: anyone who finds this server could relay through it.\n"+
		"  Make a key for each user or site:  rendezvous keygen --label alice >> /etc/meshnode/rendezvous.keys\n"+
		"  then start with  --auth-keys /etc/meshnode/rendezvous.keys  (or auth-keys = \"...\" in the config file)\n"+
		"  and give each node its key (meshnode up --auth-key-file FILE).\n"+
		"  To run a public, unauthenticated relay on purpose, pass --open", strings.Join(addrs, ", "))
}
