package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
)

type stubLife struct {
	err  error
	down chan struct{}
}

func (l *stubLife) Reload(context.Context) (api.ReloadResult, error) {
	return api.ReloadResult{File: "f.toml", Changed: []string{"log-level: info -> debug"}, Restart: []string{"group"}}, l.err
}
func (l *stubLife) Down() { close(l.down) }
func (l *stubLife) ConfigInfo() *api.ConfigInfo {
	return &api.ConfigInfo{File: "f.toml", LogLevel: "debug"}
}

func serveLife(t *testing.T, l Lifecycle) *client.Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "c.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(&stub{}, nil).WithLifecycle(l).Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return client.New(path)
}

func TestLifecycle(t *testing.T) {
	l := &stubLife{down: make(chan struct{})}
	c := serveLife(t, l)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Config == nil || st.Config.File != "f.toml" {
		t.Fatalf("status %+v %v", st, err)
	}
	res, err := c.Reload(ctx)
	if err != nil || res.File != "f.toml" || len(res.Changed) != 1 || res.Restart[0] != "group" {
		t.Fatalf("reload %+v %v", res, err)
	}
	l.err = errors.New(`f.toml:3: key "group": want a string`)
	_, err = c.Reload(ctx)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 422 || !strings.Contains(ae.Message, `f.toml:3: key "group"`) {
		t.Fatalf("rejected reload: %v", err)
	}
	if err := c.Down(ctx); err != nil {
		t.Fatal(err)
	}
	<-l.down
}

func TestNoLifecycle(t *testing.T) {
	c, _ := serve(t, &stub{})
	if _, err := c.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "not started by `meshnode up`") {
		t.Fatalf("reload: %v", err)
	}
	if st, err := c.Status(context.Background()); err != nil || st.Config != nil {
		t.Fatalf("status %+v %v", st, err)
	}
}
