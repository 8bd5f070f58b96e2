// Command demo runs a local meshnode mesh on loopback: a rendezvous, a node "home"
// serving a small web page as serveid 700, and a node "office" that maps it to a
// local port and serves the HTTP API and the dashboard (127.0.0.1:7750 when that
// port is free). It fetches the page through the mesh, prints what to try next, and
// keeps running until Ctrl-C (or exits at once with --once).
//
//	go run ./internal/demo --bin ./bin [--once]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

func main() {
	bin := flag.String("bin", "./bin", "directory holding the meshnode and rendezvous binaries")
	once := flag.Bool("once", false, "fetch through the mesh once and exit")
	flag.Parse()
	if err := run(*bin, *once); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin string, once bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "meshnode-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf, err := os.Create(filepath.Join(dir, "mesh.log"))
	if err != nil {
		return err
	}
	defer logf.Close()

	// The service: a web page on a loopback port that only "home" serves.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from home, through the mesh (you asked for %s)\n", r.URL.Path)
	}))

	rdv, err := meshproc.StartRendezvous(ctx, filepath.Join(bin, "rendezvous"), "", logf,
		"--stun", "127.0.0.1:0", "--stun2", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("%w (run `just build` first)", err)
	}
	defer rdv.Stop(5 * time.Second)
	var nodes = map[string]*meshproc.Node{}
	// office serves the HTTP API and the dashboard: on 127.0.0.1:7750 (what
	// `--api on` means) when that port is free, else on another.
	apiAddr := apiAddress()
	for _, n := range []struct{ name, serve string }{{"home", "700=" + ln.Addr().String() + ",name=web,info=demo-page"}, {"office", ""}} {
		o := meshproc.NodeOptions{Name: n.name, Group: "demo", Secret: "demo-secret-not-for-production",
			State: filepath.Join(dir, n.name), Tee: logf,
			// One machine: direct paths over loopback (the links start relayed).
			Extra: []string{"--ice-interfaces", "lo"}}
		if n.serve != "" {
			o.Serve = []string{n.serve}
		}
		if n.name == "office" {
			o.Extra = append(o.Extra, "--api", apiAddr)
		}
		node, err := meshproc.StartNode(ctx, filepath.Join(bin, "meshnode"), rdv.Addr, o)
		if err != nil {
			return err
		}
		defer node.Stop(5 * time.Second)
		nodes[n.name] = node
	}
	listen, err := nodes["office"].Map(ctx, "700")
	if err != nil {
		return err
	}
	resp, err := http.Get("http://" + listen + "/demo")
	if err != nil {
		return fmt.Errorf("fetch through the mapping: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	mn := filepath.Join(bin, "meshnode")
	fmt.Printf("meshnode demo: rendezvous on %s; nodes \"home\" and \"office\" in group \"demo\".\n", rdv.Addr)
	fmt.Printf("home serves a web page as serveid 700; office mapped it to %s.\n\n", listen)
	fmt.Printf("GET http://%s/demo -> %s\n", listen, strings.TrimSpace(string(body)))
	path := "relay (ICE still running)"
	for range 50 {
		ps, err := nodes["office"].Ctl.Peers(ctx)
		if err == nil && len(ps) == 1 && ps[0].Path == api.PathDirect {
			path = "direct via " + ps[0].Endpoint
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("office -> home path: %s\n", path)
	if once {
		return nil
	}
	fmt.Printf("\nTry, in another shell:\n")
	fmt.Printf("  curl http://%s/\n", listen)
	fmt.Printf("  %s --control %s peers\n", mn, nodes["office"].Control)
	fmt.Printf("  %s --control %s services\n", mn, nodes["office"].Control)
	fmt.Printf("  %s --control %s status\n", mn, nodes["home"].Control)
	keyFile := filepath.Join(nodes["office"].State, "api.key")
	fmt.Printf("office's HTTP API and dashboard: http://%s/ (the key is in %s)\n", apiAddr, keyFile)
	fmt.Printf("  KEY=$(cat %s)\n", keyFile)
	fmt.Printf("  curl -s -H \"Authorization: Bearer $KEY\" http://%s/api/v1/peers\n", apiAddr)
	fmt.Printf("  curl -sN -H \"Authorization: Bearer $KEY\" http://%s/api/v1/events\n", apiAddr)
	fmt.Printf("Logs: %s. Ctrl-C stops the demo and removes everything.\n", logf.Name())
	<-ctx.Done()
	return nil
}

// apiAddress is 127.0.0.1:7750 when nothing listens there, else a free port.
func apiAddress() string {
	for _, a := range []string{"127.0.0.1:7750", "127.0.0.1:0"} {
		l, err := net.Listen("tcp", a)
		if err == nil {
			addr := l.Addr().String()
			l.Close()
			return addr
		}
	}
	return "127.0.0.1:7750"
}
