package meshproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshnode/meshnode/pkg/relay"
)

// AuthKeysFile is the name WriteAuthKeys gives the rendezvous' keys file.
const AuthKeysFile = "rendezvous.keys"

// WriteAuthKeys makes one new auth key per entry of fields and writes, in dir,
// the rendezvous' keys file (each key followed by its fields, e.g. "label=a1
// groups=lab") and one node key file per key, node1.key, node2.key... (0600).
func WriteAuthKeys(dir string, fields ...string) (keysFile string, nodeFiles []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	var lines []string
	for i, f := range fields {
		k, err := relay.GenerateAuthKey()
		if err != nil {
			return "", nil, err
		}
		lines = append(lines, strings.TrimSpace(k.Encode()+" "+f))
		nf := filepath.Join(dir, fmt.Sprintf("node%d.key", i+1))
		if err := os.WriteFile(nf, []byte(k.Encode()+"\n"), 0o600); err != nil {
			return "", nil, err
		}
		nodeFiles = append(nodeFiles, nf)
	}
	keysFile = filepath.Join(dir, AuthKeysFile)
	if err := os.WriteFile(keysFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", nil, err
	}
	return keysFile, nodeFiles, nil
}
