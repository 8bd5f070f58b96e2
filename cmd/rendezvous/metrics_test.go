package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/promtest"
	"github.com/meshnode/meshnode/pkg/relay"
)

var metricsRE = regexp.MustCompile(`msg="rendezvous listening" .*\bmetrics=(\S+)`)

// scrapeValue GETs url and returns the value of the series name{labels...}
// (name=value pairs), parsed with Prometheus' text parser; -1 when absent.
func scrapeValue(t *testing.T, url, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	fams, err := promtest.Parse(body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	if v, ok := promtest.Value(fams, name, labels...); ok {
		return v
	}
	return -1
}

// TestMetricsCountSTUNAndAuth: STUN answers, refusals for a missing or unknown
// auth key and joined nodes show in /metrics as they happen.
func TestMetricsCountSTUNAndAuth(t *testing.T) {
	dir := t.TempDir()
	good, _ := relay.GenerateAuthKey()
	unknown, _ := relay.GenerateAuthKey()
	keys := filepath.Join(dir, "rendezvous.keys")
	writeKeys(t, keys, good.Encode())
	addr, logs, _ := startInProcess(t, "--listen", "127.0.0.1:0", "--stun", "127.0.0.1:0", "--stun2", "127.0.0.1:0",
		"--auth-keys", keys, "--metrics", "127.0.0.1:0")
	m := metricsRE.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics address in the listening line:\n%s", logs)
	}
	url := "http://" + m[1] + "/metrics"
	if v := scrapeValue(t, url, "rendezvous_stun_requests_total", "result", "answered"); v != 0 {
		t.Fatalf("STUN answered before any request: %v", v)
	}

	s := stunRE.FindStringSubmatch(logs.String())
	stunQuery(t, s[1])
	stunQuery(t, s[2])
	if v := scrapeValue(t, url, "rendezvous_stun_requests_total", "result", "answered"); v < 2 {
		t.Errorf("rendezvous_stun_requests_total{answered} = %v, want >= 2", v)
	}

	_, noKeyErrs := tryClient(t, addr, nil)
	<-noKeyErrs
	_, badKeyErrs := tryClient(t, addr, &unknown)
	<-badKeyErrs
	ok, _ := tryClient(t, addr, &good)
	waitConnected(t, ok)
	waitFor := func(name string, min float64, labels ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			v := scrapeValue(t, url, name, labels...)
			if v >= min {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s%v = %v, want >= %v", name, labels, v, min)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("rendezvous_auth_failures_total", 1, "reason", "no_auth_key")
	waitFor("rendezvous_auth_failures_total", 1, "reason", "bad_auth_key")
	waitFor("rendezvous_rejected_connections_total", 1, "reason", "bad_auth_key")
	waitFor("rendezvous_nodes", 1)
	waitFor("rendezvous_groups", 1)
	if v := scrapeValue(t, url, "rendezvous_auth_failures_total", "reason", "auth_key_expired"); v != 0 {
		t.Errorf("auth_key_expired = %v, want 0", v)
	}
	// Nothing in the scrape names a key.
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, k := range []relay.AuthSecret{good, unknown} {
		if enc := k.Encode(); strings.Contains(string(body), enc[6:16]) {
			t.Error("the scrape holds an auth key")
		}
	}
}
