package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// testTable has one setting of each kind and a section.
func testTable() *Table {
	return &Table{
		Command: "test",
		Settings: []Setting{
			{Name: "group", Env: "T_GROUP", Kind: String, Required: true, Usage: "group `NAME`"},
			{Name: "secret", Env: "T_SECRET", Kind: String, Secret: true, Usage: "the `SECRET`"},
			{Name: "relay-only", Env: "T_RELAY_ONLY", Kind: Bool, Usage: "relay only"},
			{Name: "max-conns", Env: "T_MAX_CONNS", Kind: Int, Default: 100, Usage: "at most `N`"},
			{Name: "idle", Env: "T_IDLE", Kind: Duration, Default: time.Minute, Usage: "idle `D`"},
			{Name: "ifaces", Env: "T_IFACES", Kind: List, Usage: "interfaces"},
			{Name: "log-level", Env: "T_LOG_LEVEL", Kind: String, Default: "info", Live: true, Usage: "log `LEVEL`"},
			{Name: "serve", Kind: List, FlagOnly: true, Usage: "serve `SPEC`"},
		},
		Sections: []Section{{
			Name: "serve", Doc: "services", Live: true,
			Keys: []Setting{
				{Name: "serveid", Kind: Int, Usage: "id"},
				{Name: "target", Kind: String, Required: true, Usage: "target"},
				{Name: "active", Kind: Bool, Default: true, Usage: "active"},
			},
		}},
	}
}

type flags map[string]any

func (f flags) IsSet(name string) bool { _, ok := f[name]; return ok }
func (f flags) Value(s *Setting) any   { return f[s.Name] }

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestTableCheck(t *testing.T) {
	if err := testTable().Check(); err != nil {
		t.Fatal(err)
	}
	bad := testTable()
	bad.Settings = append(bad.Settings, Setting{Name: "group", Usage: "x"})
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), `"group" twice`) {
		t.Fatalf("duplicate: %v", err)
	}
	bad = testTable()
	bad.Settings[3].Default = "100"
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "not a integer") {
		t.Fatalf("bad default: %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	tab := testTable()
	file, err := tab.Parse("c.toml", []byte("group = \"fromfile\"\nmax-conns = 7\nidle = \"5s\"\nifaces = [\"eth0\", \"lo\"]\nlog-level = \"debug\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		flags  flags
		env    map[string]string
		file   *File
		key    string
		want   any
		source Source
		ref    string
	}{
		{"default", nil, nil, nil, "max-conns", 100, FromDefault, "--max-conns"},
		{"file over default", nil, nil, file, "max-conns", 7, FromFile, "max-conns"},
		{"env over file", nil, map[string]string{"T_MAX_CONNS": "8"}, file, "max-conns", 8, FromEnv, "T_MAX_CONNS"},
		{"flag over env", flags{"max-conns": 9}, map[string]string{"T_MAX_CONNS": "8"}, file, "max-conns", 9, FromFlag, "--max-conns"},
		{"file duration", nil, nil, file, "idle", 5 * time.Second, FromFile, "idle"},
		{"env duration", nil, map[string]string{"T_IDLE": "2m"}, file, "idle", 2 * time.Minute, FromEnv, "T_IDLE"},
		{"env bool", nil, map[string]string{"T_RELAY_ONLY": "true"}, file, "relay-only", true, FromEnv, "T_RELAY_ONLY"},
		{"file list", nil, nil, file, "ifaces", []string{"eth0", "lo"}, FromFile, "ifaces"},
		{"flag list", flags{"ifaces": []string{"wg0"}}, nil, file, "ifaces", []string{"wg0"}, FromFlag, "--ifaces"},
		{"env empty string set", nil, map[string]string{"T_GROUP": ""}, file, "group", "", FromEnv, "T_GROUP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := Sources{LookupEnv: env(tc.env), File: tc.file}
			if tc.flags != nil {
				src.Flags = tc.flags
			}
			v, err := tab.Resolve(src, true)
			if err != nil {
				t.Fatal(err)
			}
			got := v.Get(tc.key)
			if !equal(got.V, tc.want) || got.Source != tc.source || v.Ref(tc.key) != tc.ref {
				t.Fatalf("%s = %v from %v (ref %s), want %v from %v (ref %s)", tc.key, got.V, got.Source, v.Ref(tc.key), tc.want, tc.source, tc.ref)
			}
			if tc.source == FromFile && got.Pos.Line == 0 {
				t.Fatalf("file value without a line: %+v", got)
			}
		})
	}
}

func TestRequiredAndEnvErrors(t *testing.T) {
	tab := testTable()
	_, err := tab.Resolve(Sources{}, false)
	if err == nil || !strings.Contains(err.Error(), `required setting "group" not set: give --group, T_GROUP or group = ...`) {
		t.Fatalf("missing group: %v", err)
	}
	v, err := tab.Resolve(Sources{}, true)
	if err != nil || len(v.Missing()) != 1 {
		t.Fatalf("allowMissing: %v %v", v, err)
	}
	for k, want := range map[string]string{
		"T_MAX_CONNS":  `T_MAX_CONNS: "many" is not an integer`,
		"T_IDLE":       `T_IDLE: "many" is not a duration`,
		"T_RELAY_ONLY": `T_RELAY_ONLY: "many" is not a boolean`,
	} {
		_, err := tab.Resolve(Sources{LookupEnv: env(map[string]string{"T_GROUP": "g", k: "many"})}, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", k, err, want)
		}
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown key suggests", "group = \"g\"\n\nmax-con = 3\n", `c.toml:3: key "max-con": unknown key (did you mean "max-conns"?)`},
		{"unknown key lists", "group = \"g\"\nzzzzzzzz = 1\n", `c.toml:2: key "zzzzzzzz": unknown key (keys: group, secret,`},
		{"flag-only key", "serve = [\"x\"]\n", `c.toml:1: key "serve": want [serve.NAME] tables, got an array`},
		{"secret syntax not shown", "group = \"g\"\nsecret = hunter2hunter2\n", `c.toml:2: key "secret": cannot parse the value (not shown: secret)`},
		{"secret not shown", "secret = 12345678\n", `c.toml:1: key "secret": want a string, got another type (value not shown: secret)`},
		{"wrong type", "# comment\ngroup = 5\n", `c.toml:2: key "group": want a string, got an integer (5)`},
		{"wrong bool", "relay-only = \"yes\"\n", `c.toml:1: key "relay-only": want true or false, got a string ("yes")`},
		{"bad duration", "idle = \"soon\"\n", `c.toml:1: key "idle": "soon" is not a duration`},
		{"duration as int", "idle = 30\n", `c.toml:1: key "idle": want a duration string such as "30s", got an integer (30)`},
		{"list element", "ifaces = [\"a\", 1]\n", `c.toml:1: key "ifaces": want an array of strings, got an element that is an integer (1)`},
		{"syntax", "group = \"g\"\nmax-conns = = 3\n", `c.toml:2:`},
		{"unterminated", "group = \"g\n", `c.toml:1:`},
		{"section key unknown", "[serve.ssh]\ntarget = \"h:1\"\nport = 1\n", `c.toml:3: key "serve.ssh.port": unknown key in a [serve.NAME] section (keys: serveid, target, active)`},
		{"section key type", "[serve.ssh]\n\n  target = \"h:1\"\n  serveid = \"700\"\n", `c.toml:4: key "serve.ssh.serveid": want an integer, got a string ("700")`},
		{"section required", "[serve.ssh]\nserveid = 700\n", `c.toml:1: key "serve.ssh": [serve.ssh] has no target (required)`},
		{"section not table", "[serve]\nssh = 1\n", `c.toml:2: key "serve.ssh": want a table [serve.ssh], got an integer (1)`},
		{"after multiline", "group = \"\"\"\nx = 1\n\"\"\"\nifaces = [\n \"a\",\n]\nnope = 1\n", `c.toml:7: key "nope"`},
		{"dotted key", "serve.ssh.target = \"h:1\"\nserve.ssh.bad = 1\n", `c.toml:2: key "serve.ssh.bad": unknown key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := testTable().Parse("c.toml", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestSections(t *testing.T) {
	text := `group = "g"

[serve.ssh]
serveid = 700
target  = "127.0.0.1:22"

[serve."web site"]
target = "127.0.0.1:80"
active = false
`
	f, err := testTable().Parse("c.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	items := f.Items("serve")
	if len(items) != 2 || items[0].Name != "ssh" || items[1].Name != "web site" {
		t.Fatalf("items %+v", items)
	}
	ssh, web := items[0], items[1]
	if ssh.Int("serveid") != 700 || ssh.String("target") != "127.0.0.1:22" || !ssh.Bool("active") || ssh.Pos.Line != 3 {
		t.Fatalf("ssh %+v", ssh)
	}
	if web.Int("serveid") != 0 || web.Bool("active") || web.Has("serveid") || web.Pos.Line != 7 {
		t.Fatalf("web %+v", web)
	}
	err = ssh.Errorf("target", "bad target")
	var pe *PosError
	if !errors.As(err, &pe) || err.Error() != `c.toml:5: key "serve.ssh.target": bad target` {
		t.Fatalf("item error %q", err)
	}
	if err := web.Errorf("", "clash"); err.Error() != `c.toml:7: key "serve.\"web site\"": clash` {
		t.Fatalf("header error %q", err)
	}
}

func TestErrorfNamesFileValues(t *testing.T) {
	tab := testTable()
	f, err := tab.Parse("/etc/x.toml", []byte("group = \"g\"\nlog-level = \"loud\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tab.Resolve(Sources{File: f}, false)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Errorf("log-level", "invalid %s %q", v.Ref("log-level"), v.String("log-level"))
	if err.Error() != `/etc/x.toml:2: key "log-level": invalid log-level "loud"` {
		t.Fatalf("%q", err)
	}
	v, _ = tab.Resolve(Sources{File: f, Flags: flags{"log-level": "loud"}}, false)
	err = v.Errorf("log-level", "invalid %s %q", v.Ref("log-level"), v.String("log-level"))
	if err.Error() != `invalid --log-level "loud"` {
		t.Fatalf("%q", err)
	}
}

func TestPrintShowsSourcesAndHidesSecrets(t *testing.T) {
	tab := testTable()
	f, err := tab.Parse("c.toml", []byte("group = \"g\"\nsecret = \"hunter2hunter2\"\n[serve.ssh]\ntarget = \"h:22\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tab.Resolve(Sources{File: f, Flags: flags{"relay-only": true, "serve": []string{"1=h:1"}},
		LookupEnv: env(map[string]string{"T_MAX_CONNS": "5"})}, false)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := v.Print(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret printed:\n%s", out)
	}
	for _, want := range []string{
		`group      = "g"`, "# file c.toml:1",
		"secret     = <set>", "# file c.toml:2",
		"relay-only = true", "# flag --relay-only",
		"max-conns  = 5", "# env T_MAX_CONNS",
		`log-level  = "info"`, "# default",
		`# --serve`, `["1=h:1"]`,
		"[serve.ssh]", "# file c.toml:3", `target  = "h:22"`, "active  = true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("print lacks %q:\n%s", want, out)
		}
	}
}

func TestDiff(t *testing.T) {
	tab := testTable()
	load := func(text string) *Values {
		f, err := tab.Parse("c.toml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		v, err := tab.Resolve(Sources{File: f, Flags: flags{"max-conns": 3}}, false)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a := load("group = \"g\"\nsecret = \"aaaaaaaaaa\"\n")
	b := load("group = \"h\"\nsecret = \"bbbbbbbbbb\"\nlog-level = \"debug\"\nmax-conns = 9\n")
	cs := Diff(a, b)
	if got := strings.Join(Keys(cs), ","); got != "group,log-level,secret" {
		t.Fatalf("changed %s (max-conns is held by its flag)", got)
	}
	for _, c := range cs {
		if c.Live != (c.Name == "log-level") {
			t.Errorf("%s live=%v", c.Name, c.Live)
		}
		if c.Name == "secret" && (strings.Contains(c.Old+c.New, "aaa") || strings.Contains(c.Old+c.New, "bbb")) {
			t.Errorf("secret in diff: %+v", c)
		}
	}
	if len(Diff(a, a)) != 0 {
		t.Fatal("no change expected")
	}
}

func TestMarkdown(t *testing.T) {
	md := testTable().Markdown()
	for _, want := range []string{
		"| `group` | `T_GROUP` | string | required | restart | group NAME |",
		"| `secret` | `T_SECRET` | string |  | restart | the SECRET (secret: never printed) |",
		"| `log-level` | `T_LOG_LEVEL` | string | `\"info\"` | live | log LEVEL |",
		"`[serve.NAME]` sections: services (on reload: live)",
		"| `target` | string | required | target |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "`serve` |") {
		t.Errorf("flag-only setting in the key table:\n%s", md)
	}
}
