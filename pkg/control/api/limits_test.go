package api

import (
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "": 0, "1048576": 1 << 20, "20MB": 20e6, "50MiB": 50 << 20, "1.5 GB/s": 1.5e9, "64k": 64 << 10, "1MB/s": 1e6} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"fast", "-1MB", "10 parsecs", "MB"} {
		if _, err := ParseRate(bad); err == nil || !strings.Contains(err.Error(), "want a number of bytes") {
			t.Errorf("ParseRate(%q) = %v", bad, err)
		}
	}
	for r, want := range map[int64]string{1e6: "1MB/s", 1500000: "1.5MB/s", 64 << 10: "65.536kB/s", 999: "999B/s", 2e9: "2GB/s"} {
		if got := FormatRate(r); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", r, got, want)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, tc := range []struct {
		l          Limits
		forMapping bool
		want       string
	}{
		{Limits{MaxConns: 2, Rate: 1e6, IdleTimeout: "5m", ProxyProtocol: "v2"}, false, ""},
		{Limits{MaxConns: -1}, false, "max-conns -1 out of range"},
		{Limits{MaxConns: 70000}, false, "max-conns 70000 out of range"},
		{Limits{Rate: -5}, false, "rate -5 is negative"},
		{Limits{IdleTimeout: "soon"}, false, `idle-timeout "soon": want a duration`},
		{Limits{IdleTimeout: "10ms"}, false, "idle-timeout 10ms is below the minimum 1s"},
		{Limits{ProxyProtocol: "v3"}, false, `proxy-protocol "v3": want v1 or v2`},
		{Limits{ProxyProtocol: "v1"}, true, "proxy-protocol is a setting of the service"},
	} {
		err := tc.l.Validate(tc.forMapping)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v; want %q", tc.l, err, tc.want)
		}
	}
	l := &Limits{MaxConns: 2, Rate: 1e6, IdleTimeout: "5m"}
	if got := l.String(); got != "max-conns=2 rate=1MB/s idle-timeout=5m" {
		t.Errorf("String() = %q", got)
	}
}
