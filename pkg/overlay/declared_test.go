package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
)

// Declared items (config file, --serve) live beside live ones: never persisted,
// never removed through the API, and clashes name where the other is declared.
func TestDeclaredItems(t *testing.T) {
	rdv := startRelay(t)
	key, _ := identity.GeneratePrivateKey()
	dir := t.TempDir()
	n, err := New(Config{Group: "g", Secret: "a-long-enough-secret", Rendezvous: rdv, Name: "a", Key: key,
		StateDir: dir, Logger: testLogger(t), ICEInterfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-n.Ready()
	target := echoListener(t)

	if _, err := n.ServeDeclared(Service{ID: 700, Name: "ssh", Target: target}, api.OriginFile, "[serve.ssh]"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddService(api.Service{ID: 701, Name: "web", Target: target}, true); err != nil {
		t.Fatal(err)
	}
	if err := n.RemoveService(700); err == nil || !strings.Contains(err.Error(), "declared by [serve.ssh]") {
		t.Fatalf("API removal of a declared service: %v", err)
	}
	if _, err := n.AddService(api.Service{ID: 700, Target: target}, true); err == nil || !strings.Contains(err.Error(), "declared by [serve.ssh]") {
		t.Fatalf("live service on a declared serveid: %v", err)
	}
	if _, err := n.ServeDeclared(Service{ID: 702, Name: "web", Target: target}, api.OriginFile, "[serve.web]"); err == nil || !strings.Contains(err.Error(), "added live") {
		t.Fatalf("declared service named like a live one: %v", err)
	}
	if err := n.UnserveDeclared(701); err == nil {
		t.Fatal("UnserveDeclared removed a live service")
	}

	mi, err := n.MapDeclared(api.MappingRequest{Target: "700", Port: 0}, api.OriginFile, "[use.ssh]")
	if err != nil || mi.Origin != api.OriginFile || mi.Ref != "[use.ssh]" || mi.Listen == "" {
		t.Fatalf("MapDeclared: %+v %v", mi, err)
	}
	if err := n.RemoveMapping(mi.Port); err == nil || !strings.Contains(err.Error(), "declared by [use.ssh]") {
		t.Fatalf("API removal of a declared mapping: %v", err)
	}
	if _, err := n.AddMapping(context.Background(), api.MappingRequest{Target: "701", Port: mi.Port}); err == nil || !strings.Contains(err.Error(), "declared by [use.ssh]") {
		t.Fatalf("live mapping on a declared port: %v", err)
	}
	live, err := n.AddMapping(context.Background(), api.MappingRequest{Target: "701"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.UnmapDeclared(live.Port); err == nil {
		t.Fatal("UnmapDeclared removed a live mapping")
	}

	st := n.Status()
	origins := map[ServeID]string{}
	for _, s := range st.Services {
		origins[s.ID] = string(s.Origin) + " " + s.Ref
	}
	if origins[700] != "file [serve.ssh]" || origins[701] != "live " {
		t.Fatalf("service origins %v", origins)
	}
	saved, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(saved); strings.Contains(s, `"serveid": 700`) || strings.Contains(s, fmt.Sprintf(`"port": %d`, mi.Port)) || !strings.Contains(s, `"serveid": 701`) {
		t.Fatalf("state file keeps declared items or lacks live ones:\n%s", s)
	}

	if err := n.UnmapDeclared(mi.Port); err != nil {
		t.Fatal(err)
	}
	if err := n.UnserveDeclared(700); err != nil {
		t.Fatal(err)
	}
	if len(n.Mappings()) != 1 || len(n.LocalServices()) != 1 {
		t.Fatalf("left: %+v %+v", n.Mappings(), n.LocalServices())
	}
}
