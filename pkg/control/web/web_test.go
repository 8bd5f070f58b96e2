package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestFilesServed: the page and everything it references are served from
// the binary, and nothing is loaded from elsewhere (no CDN: it works offline).
func TestFilesServed(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	get := func(path string) (int, string, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	code, ctype, index := get("/")
	if code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(index, `id="login-form"`) {
		t.Fatalf("/: %d %s", code, ctype)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %v", refs)
	}
	for _, m := range refs {
		if strings.Contains(m[1], "//") {
			t.Errorf("index.html loads %s from elsewhere", m[1])
			continue
		}
		if code, _, body := get("/" + m[1]); code != 200 || body == "" {
			t.Errorf("%s: %d", m[1], code)
		}
	}
	_, _, js := get("/app.js")
	if regexp.MustCompile(`https?://`).MatchString(js) || strings.Contains(js, "localStorage") {
		t.Error("app.js talks to another host or keeps the key beyond the session")
	}
	if code, _, _ := get("/nope.js"); code != 404 {
		t.Errorf("/nope.js: %d", code)
	}
}
