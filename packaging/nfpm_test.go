package packaging

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// nfpmConfig is the part of nfpm.yaml the test checks.
type nfpmConfig struct {
	Name          string `yaml:"name"`
	Arch          string `yaml:"arch"`
	Version       string `yaml:"version"`
	VersionSchema string `yaml:"version_schema"`
	Maintainer    string `yaml:"maintainer"`
	Contents      []struct {
		Src      string `yaml:"src"`
		Dst      string `yaml:"dst"`
		Type     string `yaml:"type"`
		Expand   bool   `yaml:"expand"`
		FileInfo struct {
			Mode os.FileMode `yaml:"mode"`
		} `yaml:"file_info"`
	} `yaml:"contents"`
	Scripts map[string]string `yaml:"scripts"`
}

// TestNFPMConfig checks the .deb's nfpm config against the tree install.sh
// stages for it (PREFIX=/usr, UNITDIR=/lib/systemd/system), without running
// nfpm (`just dist` does, with the network): every staged file is packed at
// its own path with its mode, configs are 0600 conffiles, the units run
// /usr/bin, and the maintainer scripts parse.
func TestNFPMConfig(t *testing.T) {
	b, err := os.ReadFile("nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg nfpmConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("nfpm.yaml: %v", err)
	}
	if cfg.Name != "meshnode" || cfg.Arch != "${ARCH}" || cfg.Version != "${VERSION}" || cfg.VersionSchema != "none" || cfg.Maintainer == "" {
		t.Errorf("nfpm.yaml header: %+v", cfg)
	}

	// Stage with stand-in binaries: only the layout matters here.
	dir := t.TempDir()
	bin, stage := filepath.Join(dir, "bin"), filepath.Join(dir, "stage")
	for _, f := range []string{"meshnode", "rendezvous", "plugins/meshnode-cipher-aesgcm", "plugins/meshnode-transport-websocket"} {
		os.MkdirAll(filepath.Join(bin, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(bin, f), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("./install.sh", "install")
	cmd.Env = append(os.Environ(), "BIN="+bin, "DESTDIR="+stage, "PREFIX=/usr", "UNITDIR=/lib/systemd/system")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh into the stage: %v\n%s", err, out)
	}

	packed := map[string]bool{} // staged files the config packs
	for _, c := range cfg.Contents {
		if c.Src == "" {
			if c.Type != "dir" {
				t.Errorf("%s: no src and not a dir", c.Dst)
			}
			continue
		}
		rel, ok := strings.CutPrefix(c.Src, "${STAGE}/")
		if !ok || !c.Expand {
			t.Errorf("%s: src %s is not from the staged tree (${STAGE}, expand: true)", c.Dst, c.Src)
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(stage, rel))
		if len(matches) == 0 {
			t.Errorf("src %s matches nothing that install.sh stages", c.Src)
		}
		for _, m := range matches {
			r, _ := filepath.Rel(stage, m)
			want := "/" + r
			dst := c.Dst
			if strings.HasSuffix(dst, "/") {
				dst += filepath.Base(m)
			}
			if dst != want {
				t.Errorf("%s is packed as %s, not at its installed path %s", c.Src, dst, want)
			}
			st, _ := os.Stat(m)
			if st.Mode().Perm() != c.FileInfo.Mode {
				t.Errorf("%s: package mode %04o, installed mode %04o", dst, c.FileInfo.Mode, st.Mode().Perm())
			}
			packed[want] = true
		}
		if strings.HasPrefix(c.Dst, "/etc/") && (c.Type != "config|noreplace" || c.FileInfo.Mode != 0o600) {
			t.Errorf("%s: type %q mode %04o; want a config|noreplace conffile, 0600", c.Dst, c.Type, c.FileInfo.Mode)
		}
	}
	filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, _ := filepath.Rel(stage, p)
		if !packed["/"+r] {
			t.Errorf("install.sh installs /%s but the .deb does not carry it", r)
		}
		return nil
	})
	for _, u := range []string{"rendezvous.service", "meshnode.service", "meshnode@.service"} {
		un, err := readUnit(filepath.Join(stage, "lib/systemd/system", u))
		if err != nil {
			t.Fatal(err)
		}
		if exec := un.get("Service", "ExecStart"); !strings.HasPrefix(exec, "/usr/bin/") {
			t.Errorf("packaged %s: ExecStart=%s, want /usr/bin/...", u, exec)
		}
	}

	for _, kind := range []string{"postinstall", "preremove", "postremove"} {
		p := filepath.Join(repo, cfg.Scripts[kind])
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s script %s: missing or not executable (%v)", kind, p, err)
			continue
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", p, err, out)
		}
		b, _ := os.ReadFile(p)
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if !strings.HasPrefix(l, "echo") && !strings.HasPrefix(l, "#") && regexp.MustCompile(`systemctl (enable|start|restart)\b`).MatchString(l) {
				t.Errorf("%s enables or starts a unit (%q); the package must not", p, l)
			}
		}
	}
}

// TestDebVersion: git describe output becomes a Debian version, which must
// start with a digit and sort releases after their tags.
func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                   "1.2.3",
		"1.2.3":                    "1.2.3",
		"v1.2.3-4-gabcdef0":        "1.2.3+4.gabcdef0",
		"v1.2.3-dirty":             "1.2.3+dirty",
		"v0.9.0-12-g1a2b3c4-dirty": "0.9.0+12.g1a2b3c4.dirty",
	} {
		out, err := exec.Command("./dist.sh", "--debversion", in).CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("debversion(%q) = %q (%v), want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"abc1234", "1234567", "abc1234-dirty"} {
		out, err := exec.Command("./dist.sh", "--debversion", in).CombinedOutput()
		got := strings.TrimSpace(string(out))
		hash := strings.TrimSuffix(in, "-dirty")
		if err != nil || !regexp.MustCompile(`^0\.0\.0\+git[0-9]+\.`+hash+`(\.dirty)?$`).MatchString(got) {
			t.Errorf("debversion(%q) = %q (%v), want 0.0.0+gitDATE.%s", in, got, err, hash)
		}
	}
}
