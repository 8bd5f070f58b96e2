package overlay

import (
	"strings"
	"testing"
)

func TestParseServeSpec(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		want    Service
		wantErr string
	}{
		{spec: "700=127.0.0.1:22", want: Service{ID: 700, Target: "127.0.0.1:22", Proto: "tcp"}},
		{spec: "700=localhost:22,name=ssh,info=home-box", want: Service{ID: 700, Target: "localhost:22", Proto: "tcp", Name: "ssh", Info: "home-box"}},
		{spec: "12=[::1]:8080,proto=tcp", want: Service{ID: 12, Target: "[::1]:8080", Proto: "tcp"}},
		{spec: "700", wantErr: "want SERVEID=HOST:PORT"},
		{spec: "abc=127.0.0.1:22", wantErr: `serveid "abc" is not a number`},
		{spec: "0=127.0.0.1:22,name=x", want: Service{ID: 0, Target: "127.0.0.1:22", Proto: "tcp", Name: "x"}},
		{spec: "-1=127.0.0.1:22", wantErr: "out of range"},
		{spec: "1000=127.0.0.1:22", wantErr: "out of range"},
		{spec: "700=", wantErr: "missing HOST:PORT"},
		{spec: "700=127.0.0.1", wantErr: "not host:port"},
		{spec: "700=127.0.0.1:0", wantErr: "1-65535"},
		{spec: "700=127.0.0.1:99999", wantErr: "1-65535"},
		{spec: "700=:22", wantErr: "has no host"},
		{spec: "700=127.0.0.1:22,bogus=1", wantErr: `unknown option "bogus"`},
		{spec: "700=127.0.0.1:22,name", wantErr: "not key=value"},
		{spec: "700=127.0.0.1:22,name=has space", wantErr: "only letters"},
		{spec: "53=127.0.0.1:53,proto=udp", want: Service{ID: 53, Target: "127.0.0.1:53", Proto: "udp"}},
		{spec: "700=127.0.0.1:22,proto=sctp", wantErr: `proto "sctp" is not supported`},
		{spec: "700=127.0.0.1:22,info=" + strings.Repeat("x", 300), wantErr: "limit is 256"},
	} {
		got, err := ParseServeSpec(tc.spec)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want %q", tc.spec, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}
