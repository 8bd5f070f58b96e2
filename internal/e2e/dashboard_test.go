package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// chromium finds a Chromium or Chrome binary, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where the test saves its screenshot: $MESHNODE_ARTIFACTS when
// set, else the test's artifact directory (kept with go test -artifacts).
func artifactDir(t *testing.T) string {
	if d := os.Getenv("MESHNODE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

// TestDashboard drives the dashboard in headless Chromium against real nodes:
// the key is asked once per session; a peer joining and its path change
// (relay -> direct) arrive live, in the events list, from the SSE stream; the
// peers table shows the path, and why a --relay-only peer is relayed; adding a
// mapping through the form makes bytes flow; serving and removing a service
// and a mapping work from the page. A screenshot is saved.
func TestDashboard(t *testing.T) {
	browser := chromium()
	if browser == "" {
		t.Skip("no chromium on PATH: the dashboard test needs headless Chromium (Debian: apt-get install chromium; CI installs it)")
	}
	r := startRendezvous(t, "")
	echo := startEcho(t)
	b := startNode(t, r, nodeOpts{Name: "beta", Extra: []string{"--api", "127.0.0.1:0"},
		Serve: []string{"720=" + echo.addr() + ",name=limited,max-conns=3,rate=1MB"}})
	bapi := apiOf(t, b, "")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1400),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	// The key is asked for, then the page goes live (its event stream is open).
	if err := chromedp.Do(ctx,
		chromedp.Navigate(bapi.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), bapi.key),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)), // Submit would bypass the form's handler
		chromedp.WaitVisible(chromedp.CSS("#main")),
		poll(`document.querySelector('#live').textContent === 'live'`),
	); err != nil {
		t.Fatalf("login: %v", err)
	}
	// A served service's limits are shown.
	if err := chromedp.Do(ctx, poll(`document.querySelector('#served tr[data-serveid="720"]')?.textContent.includes('max-conns=3 rate=')`)); err != nil {
		t.Fatalf("the served service's limits: %v", err)
	}
	if stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('meshnode-api-key')`)); err != nil || stored != bapi.key {
		t.Fatalf("key in sessionStorage: %q %v", stored, err)
	}

	// A peer joins while the page is open: the event arrives through the
	// stream and the peers table shows it with its path.
	startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr() + ",name=echo"}})
	if err := chromedp.Do(ctx,
		poll(`[...document.querySelectorAll('#events li[data-kind="join"]')].some(li => li.textContent.includes('alpha'))`),
		poll(`document.querySelector('#peers tr[data-peer="alpha"] td.path')?.textContent === 'direct'`),
		poll(`[...document.querySelectorAll('#events li[data-kind="path"]')].some(li => li.textContent.includes('alpha -> direct'))`),
		poll(`document.querySelector('#services tr[data-serveid="700"]') !== null`),
	); err != nil {
		t.Fatalf("peer alpha on the page: %v", err)
	}

	// A relayed peer shows why it is relayed.
	startNode(t, r, nodeOpts{Name: "gamma", Extra: []string{"--relay-only"}})
	if err := chromedp.Do(ctx,
		poll(`document.querySelector('#peers tr[data-peer="gamma"] td.path')?.textContent === 'relay'`),
		poll(`document.querySelector('#peers tr[data-peer="gamma"] td.why')?.textContent.includes('--relay-only')`),
	); err != nil {
		t.Fatalf("relayed peer gamma on the page: %v", err)
	}
	// The key is asked once per session: a reload goes straight to the data.
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#main")),
		poll(`document.querySelector('#login').hidden && document.querySelector('#live').textContent === 'live'`),
		poll(`document.querySelector('#peers tr[data-peer="alpha"]') !== null`),
		poll(`[...document.querySelectorAll('#events li[data-kind="join"]')].some(li => li.textContent.includes('gamma'))`),
	); err != nil {
		t.Fatalf("reload: %v", err)
	}

	// A bad rate in the mapping form is refused on the page, naming it;
	// nothing is added.
	port := freePort(t)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#map-target"), "echo@alpha"),
		chromedp.SendKeys(chromedp.CSS("#map-port"), strconv.Itoa(port)),
		chromedp.SendKeys(chromedp.CSS("#map-rate"), "fast"),
		chromedp.Click(chromedp.CSS(`#map-form button[type="submit"]`)),
		poll(`document.querySelector('#error').textContent.includes('rate "fast"')`),
	); err != nil {
		t.Fatalf("a bad rate in the mapping form: %v", err)
	}
	if ms := mappingPorts(t, bapi); slices.Contains(ms, port) {
		t.Fatalf("a mapping on %d was added despite the bad rate: %v", port, ms)
	}
	// Add a mapping with limits through the form; bytes flow through it and
	// the node holds the limits.
	if err := chromedp.Do(ctx,
		setValue("#map-rate", "5MB"),
		chromedp.SendKeys(chromedp.CSS("#map-max-conns"), "2"),
		chromedp.SendKeys(chromedp.CSS("#map-idle"), "5m"),
		chromedp.Click(chromedp.CSS(`#map-form button[type="submit"]`)),
		poll(fmt.Sprintf(`document.querySelector('#mappings tr[data-port="%d"]') !== null`, port)),
		poll(fmt.Sprintf(`document.querySelector('#mappings tr[data-port="%d"] td:nth-child(8)')?.textContent === 'max-conns=2 rate=4.8 MiB/s idle-timeout=5m'`, port)),
	); err != nil {
		errText, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#error")))
		t.Fatalf("mapping through the form: %v (page error %q)", err, errText)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("from the dashboard "), 500)
	go c.Write(msg)
	got := make([]byte, len(msg))
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the dashboard's mapping: %v", err)
	}
	c.Close()
	// The page shows the connection once it refreshes (the slow poll).
	if err := chromedp.Do(ctx,
		poll(fmt.Sprintf(`document.querySelector('#mappings tr[data-port="%d"] td:nth-child(5)')?.textContent === '1'`, port)),
	); err != nil {
		t.Fatalf("mapping counters on the page: %v", err)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactDir(t), "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// Serve a service through the form: it appears here and in the catalog;
	// removing it through the page takes it away.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#serve-id"), "710"),
		chromedp.SendKeys(chromedp.CSS("#serve-name"), "web"),
		chromedp.SendKeys(chromedp.CSS("#serve-target"), echo.addr()),
		chromedp.SendKeys(chromedp.CSS("#serve-max-conns"), "9"),
		setValue("#serve-pp", "v2"),
		chromedp.Click(chromedp.CSS(`#serve-form button[type="submit"]`)),
		poll(`document.querySelector('#served tr[data-serveid="710"]')?.textContent.includes('web')`),
		poll(`document.querySelector('#served tr[data-serveid="710"] td:nth-child(5)')?.textContent === 'max-conns=9 proxy-protocol=v2'`),
		poll(`document.querySelector('#services tr[data-serveid="710"]') !== null`),
		chromedp.Click(chromedp.CSS(`#served tr[data-serveid="710"] button`)),
		poll(`document.querySelector('#served tr[data-serveid="710"]') === null`),
	); err != nil {
		errText, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#error")))
		t.Fatalf("service through the form: %v (page error %q)", err, errText)
	}

	// Removing the mapping through the page closes the port.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#mappings tr[data-port="%d"] button`, port))),
		poll(fmt.Sprintf(`document.querySelector('#mappings tr[data-port="%d"]') === null`, port)),
	); err != nil {
		t.Fatalf("remove mapping: %v", err)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
		c.Close()
		t.Fatal("the mapping still listens after its remove button")
	}
}

// poll waits until the JavaScript expression is true.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// mappingPorts lists the ports of the node's mappings, read through its API.
func mappingPorts(t *testing.T, a httpAPI) []int {
	t.Helper()
	var ms []api.MappingInfo
	if code := a.do(t, "GET", "/api/v1/mappings", nil, true, &ms); code != 200 {
		t.Fatalf("GET mappings: %d", code)
	}
	var ports []int
	for _, m := range ms {
		ports = append(ports, m.Port)
	}
	return ports
}

// setValue sets a form field's value as a script would (replacing what was
// typed; for a select, choosing the option).
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`void (document.querySelector(%q).value = %q)`, sel, v))
}
