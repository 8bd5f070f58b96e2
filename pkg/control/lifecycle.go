package control

import (
	"context"
	"net/http"

	"github.com/meshnode/meshnode/pkg/overlay"
)

// Lifecycle is what `meshnode up` adds to the node's API besides the node
// itself: its configuration (reload, status) and stopping the process.
type Lifecycle interface {
	// Reload re-reads the config file and applies what changed. An error
	// means the file was rejected whole and nothing changed.
	Reload(ctx context.Context) (ReloadResult, error)
	// Down stops the node cleanly (as SIGTERM does); it returns at once.
	Down()
	// ConfigInfo is the configuration's state for status.
	ConfigInfo() *overlay.ConfigInfo
}

// ReloadResult says what a reload did.
type ReloadResult struct {
	File string `json:"file"`
	// Changed lists what was applied, one line per setting or item
	// ("log-level: info -> debug", "[serve.web]: added as serveid 710").
	Changed []string `json:"changed,omitempty"`
	// Restart lists settings whose new value waits for a restart.
	Restart []string `json:"restart_needed,omitempty"`
	// NotApplied lists declared items not in effect, each with why.
	NotApplied []string `json:"not_applied,omitempty"`
}

// WithLifecycle adds reload, down and the configuration's status to the API.
func (s *Server) WithLifecycle(l Lifecycle) *Server {
	s.life = l
	return s
}

func (s *Server) lifecycleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/reload", s.reload)
	mux.HandleFunc("POST /v1/down", s.down)
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	st := s.b.Status()
	if s.life != nil {
		st.Config = s.life.ConfigInfo()
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.life == nil {
		writeError(w, http.StatusNotImplemented, errNoLifecycle)
		return
	}
	res, err := s.life.Reload(r.Context())
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) down(w http.ResponseWriter, _ *http.Request) {
	if s.life == nil {
		writeError(w, http.StatusNotImplemented, errNoLifecycle)
		return
	}
	writeJSON(w, http.StatusAccepted, struct {
		Stopping bool `json:"stopping"`
	}{true})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.life.Down()
}

// Reload asks the node to re-read its config file and apply what changed.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	return res, c.do(ctx, http.MethodPost, "/v1/reload", nil, &res)
}

// Down asks the node to stop; it returns once the node accepted (use Alive to
// wait for the exit).
func (c *Client) Down(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/down", nil, nil)
}

// Alive says whether a node answers on the control socket.
func (c *Client) Alive(ctx context.Context) bool {
	_, err := c.Status(ctx)
	return err == nil
}
