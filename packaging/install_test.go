package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repo is the checkout's root (tests run in packaging/).
const repo = ".."

// scratch is one `just install` into a scratch root.
type scratch struct {
	dir   string // holds build/ and root/; short, for unix socket paths
	build string // just's bin: the built binaries
	root  string // DESTDIR
}

// path is p (an absolute path of the installed layout) inside the root.
func (s *scratch) path(p string) string { return filepath.Join(s.root, p) }

// just runs a recipe of the repo's Justfile with variable overrides; the
// environment's PREFIX, UNITDIR and DESTDIR are dropped so only the test's count.
func (s *scratch) just(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("just", append([]string{"--justfile", filepath.Join(repo, "Justfile"), "--working-directory", repo}, args...)...)
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "PREFIX", "UNITDIR", "DESTDIR":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("just %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestInstall runs `just install` into a scratch root (DESTDIR) and checks
// what it put there; the installed units then run the installed binaries as
// systemd would; a second install keeps edited configs; `just uninstall`
// removes binaries, plugins and units and leaves config and state.
func TestInstall(t *testing.T) {
	if _, err := exec.LookPath("just"); err != nil {
		t.Skip("just is not installed (npm install -g rust-just), so the install target cannot run")
	}
	dir, err := os.MkdirTemp("", "mninst")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &scratch{dir: dir, build: filepath.Join(dir, "build"), root: filepath.Join(dir, "root")}
	out := s.just(t, "bin="+s.build, "DESTDIR="+s.root, "install")
	t.Logf("just install:\n%s", out)

	t.Run("layout", func(t *testing.T) { checkLayout(t, s) })
	t.Run("example configs parse", func(t *testing.T) { checkExampleConfigs(t, s) })
	t.Run("systemd-analyze verify", func(t *testing.T) { verifyUnits(t, s) })
	t.Run("units run", func(t *testing.T) { runUnits(t, s) })
	t.Run("reinstall keeps configs", func(t *testing.T) {
		cfg := s.path("/etc/meshnode/meshnode.toml")
		edited := []byte("# edited by the admin\n")
		if err := os.WriteFile(cfg, edited, 0o600); err != nil {
			t.Fatal(err)
		}
		out := s.just(t, "bin="+s.build, "DESTDIR="+s.root, "install")
		if got, _ := os.ReadFile(cfg); !bytes.Equal(got, edited) {
			t.Fatalf("install overwrote an existing config:\n%s", out)
		}
		if !strings.Contains(out, "kept "+cfg) {
			t.Errorf("install did not say it kept %s:\n%s", cfg, out)
		}
	})
	t.Run("uninstall", func(t *testing.T) {
		key := s.path("/var/lib/meshnode/node.key")
		os.MkdirAll(filepath.Dir(key), 0o700)
		os.WriteFile(key, []byte("state stays\n"), 0o600)
		out := s.just(t, "DESTDIR="+s.root, "uninstall")
		for _, p := range []string{"/usr/local/bin/meshnode", "/usr/local/bin/rendezvous", "/usr/local/lib/meshnode",
			"/usr/local/lib/systemd/system/rendezvous.service", "/usr/local/lib/systemd/system/meshnode.service",
			"/usr/local/lib/systemd/system/meshnode@.service"} {
			if _, err := os.Lstat(s.path(p)); err == nil {
				t.Errorf("uninstall left %s:\n%s", p, out)
			}
		}
		for _, p := range []string{"/etc/meshnode/meshnode.toml", "/etc/meshnode/rendezvous.toml", "/var/lib/meshnode/node.key"} {
			if _, err := os.Stat(s.path(p)); err != nil {
				t.Errorf("uninstall removed %s (config and state stay): %v", p, err)
			}
		}
	})
}

// checkLayout: binaries and plugins 0755, units 0644, configs 0600, and no
// trace of the scratch root in what was installed.
func checkLayout(t *testing.T, s *scratch) {
	want := map[string]os.FileMode{
		"/usr/local/bin/meshnode":                                      0o755,
		"/usr/local/bin/rendezvous":                                    0o755,
		"/usr/local/lib/meshnode/plugins":                              os.ModeDir | 0o755,
		"/usr/local/lib/meshnode/plugins/meshnode-cipher-aesgcm":       0o755,
		"/usr/local/lib/meshnode/plugins/meshnode-transport-websocket": 0o755,
		"/usr/local/lib/systemd/system/rendezvous.service":             0o644,
		"/usr/local/lib/systemd/system/meshnode.service":               0o644,
		"/usr/local/lib/systemd/system/meshnode@.service":              0o644,
		"/etc/meshnode":                 os.ModeDir | 0o755,
		"/etc/meshnode/meshnode.toml":   0o600,
		"/etc/meshnode/rendezvous.toml": 0o600,
	}
	for p, mode := range want {
		st, err := os.Stat(s.path(p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if got := st.Mode() & (os.ModeType | os.ModePerm); got != mode {
			t.Errorf("%s: mode %v, want %v", p, got, mode)
		}
	}
	filepath.WalkDir(s.root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "meshnode-") || strings.HasSuffix(p, "bin/meshnode") || strings.HasSuffix(p, "bin/rendezvous") {
			return err
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(s.root)) {
			t.Errorf("%s names the scratch root %s: DESTDIR leaked into an installed file", p, s.root)
		}
		return nil
	})
	for _, u := range []string{"rendezvous.service", "meshnode.service", "meshnode@.service"} {
		un, err := readUnit(s.path("/usr/local/lib/systemd/system/" + u))
		if err != nil {
			t.Fatal(err)
		}
		svc := un.sections["Service"]
		for k, v := range map[string]string{"Type": "notify", "Restart": "on-failure", "ExecReload": "/bin/kill -HUP $MAINPID",
			"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes"} {
			if got := un.get("Service", k); got != v {
				t.Errorf("%s: %s=%q, want %q", u, k, got, v)
			}
		}
		if exec := un.get("Service", "ExecStart"); !strings.HasPrefix(exec, "/usr/local/bin/") {
			t.Errorf("%s: ExecStart=%s does not run the installed binary", u, exec)
		}
		if len(svc["CapabilityBoundingSet"]) == 0 || len(svc["RestrictAddressFamilies"]) == 0 {
			t.Errorf("%s: no CapabilityBoundingSet or RestrictAddressFamilies", u)
		}
	}
}

// checkExampleConfigs: the installed examples load with the installed
// binaries as they are and with every commented-out key switched on, so an
// admin who uncomments a line gets a working file.
func checkExampleConfigs(t *testing.T, s *scratch) {
	for _, c := range []struct{ bin, file string }{
		{"/usr/local/bin/meshnode", "/etc/meshnode/meshnode.toml"},
		{"/usr/local/bin/rendezvous", "/etc/meshnode/rendezvous.toml"},
	} {
		text, err := os.ReadFile(s.path(c.file))
		if err != nil {
			t.Fatal(err)
		}
		all := uncommentKeys(string(text))
		if all == string(text) {
			t.Errorf("%s: no commented-out keys found", c.file)
		}
		for name, body := range map[string]string{"as installed": string(text), "all keys on": all} {
			p := filepath.Join(s.dir, filepath.Base(c.file))
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--config", p, "--print-config"}
			if strings.HasSuffix(c.bin, "meshnode") {
				args = append([]string{"up"}, args...)
			}
			if out, err := exec.Command(s.path(c.bin), args...).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s\n--- file\n%s", c.file, name, err, out, body)
			}
		}
	}
}

// uncommentKeys switches on the commented-out "# key = value" and
// "# [section]" lines of an example config.
func uncommentKeys(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		rest, ok := strings.CutPrefix(l, "# ")
		if !ok {
			continue
		}
		if strings.HasPrefix(rest, "[") && strings.HasSuffix(strings.TrimSpace(rest), "]") {
			lines[i] = rest
			continue
		}
		key, _, ok := strings.Cut(rest, "=")
		key = strings.TrimSpace(key)
		if ok && key != "" && strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789-") == "" {
			lines[i] = rest
		}
	}
	return strings.Join(lines, "\n")
}

// verifyUnits runs `systemd-analyze verify` on the installed units, with the
// scratch root's binaries in their ExecStart lines (verify checks that they
// exist), and wants no word about our units.
func verifyUnits(t *testing.T, s *scratch) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed here (it comes with systemd): the unit files are not verified")
	}
	dir := filepath.Join(s.dir, "verify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	units := []string{"rendezvous.service", "meshnode.service", "meshnode@.service"}
	for _, u := range units {
		b, err := os.ReadFile(s.path("/usr/local/lib/systemd/system/" + u))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/"), []byte(s.path("/usr/local/bin")+"/"))
		if err := os.WriteFile(filepath.Join(dir, u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An instance, so the template's specifiers are expanded too.
	cmd := exec.Command(sa, "verify", "./rendezvous.service", "./meshnode.service", "./meshnode@.service", "./meshnode@verify.service")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ours []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && (strings.Contains(l, "meshnode") || strings.Contains(l, "rendezvous")) {
			ours = append(ours, l)
		} else if l != "" {
			t.Logf("systemd-analyze (about the host, not our units): %s", l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
	}
}

// deadline is how long a step may take before the test gives up; nothing is
// asserted about time.
const deadline = 60 * time.Second
