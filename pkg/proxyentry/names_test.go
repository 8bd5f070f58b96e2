package proxyentry

import (
	"errors"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		host string
		port int
		want Target
		spec string
		err  string // substring; "-" = ErrNotMesh
	}{
		{host: "700.mesh", port: 80, want: Target{ServeID: 700}, spec: "700"},
		{host: "700.MESH.", port: 80, want: Target{ServeID: 700}, spec: "700"},
		{host: "1.mesh", want: Target{ServeID: 1}, spec: "1"},
		{host: "web.home.mesh", port: 443, want: Target{Name: "web", Node: "home"}, spec: "web@home"},
		{host: "my.web.home.mesh", want: Target{Name: "my.web", Node: "home"}, spec: "my.web@home"},
		{host: "Web.Home.Mesh", want: Target{Name: "Web", Node: "Home"}, spec: "Web@Home"},
		{host: "web.b37tiqg4.mesh", want: Target{Name: "web", Node: "b37tiqg4"}, spec: "web@b37tiqg4"},
		{host: "home.adhoc.mesh", port: 8888, want: Target{Node: "home", Host: "127.0.0.1", Port: 8888}, spec: "127.0.0.1:8888@home"},
		{host: "10-0-0-5.office.adhoc.mesh", port: 22, want: Target{Node: "office", Host: "10.0.0.5", Port: 22}, spec: "10.0.0.5:22@office"},

		{host: "example.com", err: "-"},
		{host: "mesh", err: "-"},
		{host: "10.0.0.1", err: "-"},
		{host: ".mesh", err: "want SERVEID.mesh or NAME.NODE.mesh"},
		{host: "0.mesh", err: "not a serveid"},
		{host: "1000.mesh", err: "not a serveid"},
		{host: "0700.mesh", err: "not a serveid"},
		{host: "-1.mesh", err: "not a serveid"},
		{host: "+1.mesh", err: "not a serveid"},
		{host: "web.mesh", err: `"web" is not a serveid (1-999); a service by name is NAME.NODE.mesh`},
		{host: ".home.mesh", err: "empty service name"},
		{host: "web..mesh", err: "empty node"},
		{host: "we b.home.mesh", err: `service name "we b": only letters`},
		{host: strings.Repeat("a", 65) + ".home.mesh", err: "service name of 65 bytes"},
		{host: "home.adhoc.mesh", port: 0, err: "needs the port"},
		{host: "adhoc.mesh", port: 22, err: "empty node"},
		{host: "10.0.0.5.office.adhoc.mesh", port: 22, err: "not an IPv4 address written with dashes"},
		{host: "db-internal.office.adhoc.mesh", port: 22, err: "not an IPv4 address"},
		{host: "fe80--1.office.adhoc.mesh", port: 22, err: "not an IPv4 address"},
	} {
		got, err := ParseName(tc.host, tc.port)
		switch {
		case tc.err == "-":
			if !errors.Is(err, ErrNotMesh) {
				t.Errorf("ParseName(%q) = %+v, %v; want ErrNotMesh", tc.host, got, err)
			}
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrNotMesh) {
				t.Errorf("ParseName(%q, %d) = %+v, %v; want an error with %q", tc.host, tc.port, got, err, tc.err)
			}
		case err != nil || got != tc.want || got.Spec() != tc.spec:
			t.Errorf("ParseName(%q, %d) = %+v (%q), %v; want %+v (%q)", tc.host, tc.port, got, got.Spec(), err, tc.want, tc.spec)
		}
	}
}

// FuzzParseName: any host and port give a Target whose Spec is well formed,
// or an error; never a panic.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"700.mesh", "web.home.mesh", "home.adhoc.mesh", "10-0-0-5.office.adhoc.mesh", ".mesh", "a..mesh", "1-2-3.x.adhoc.mesh"} {
		f.Add(s, 80)
	}
	f.Fuzz(func(t *testing.T, host string, port int) {
		tg, err := ParseName(host, port)
		if err != nil {
			return
		}
		spec := tg.Spec()
		switch {
		case tg.ServeID != 0:
			if tg.ServeID < 1 || tg.ServeID > maxServeID || tg.Name != "" || tg.AdHoc() {
				t.Fatalf("%q: bad serveid target %+v", host, tg)
			}
		case tg.AdHoc():
			if tg.Node == "" || tg.Port < 1 || tg.Port > 65535 || !strings.HasSuffix(spec, "@"+tg.Node) {
				t.Fatalf("%q: bad ad-hoc target %+v (%q)", host, tg, spec)
			}
		default:
			if tg.Name == "" || tg.Node == "" || strings.Contains(tg.Node, ".") || spec != tg.Name+"@"+tg.Node {
				t.Fatalf("%q: bad service target %+v (%q)", host, tg, spec)
			}
		}
	})
}
