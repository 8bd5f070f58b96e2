package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// Ping asks the node to ping a peer.
func (c *Client) Ping(ctx context.Context, req api.PingRequest) (api.PingResult, error) {
	var res api.PingResult
	hc := *c.hc
	hc.Timeout = 0 // as long as the pings take (the node bounds it); ctx still ends it
	return res, c.doWith(&hc, ctx, http.MethodPost, "/v1/ping", req, &res)
}

// Netcheck asks the node to probe its network now.
func (c *Client) Netcheck(ctx context.Context) (api.NetcheckResult, error) {
	var res api.NetcheckResult
	return res, c.do(ctx, http.MethodGet, "/v1/netcheck", nil, &res)
}

// Events streams the node's events to fn until ctx ends or fn returns an error.
func (c *Client) Events(ctx context.Context, fn func(api.Event) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://meshnode/v1/events", nil)
	if err != nil {
		return err
	}
	hc := *c.hc
	hc.Timeout = 0 // a stream
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot reach the node's control socket %s (is `meshnode up` running with this --control?): %w", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return errorOf(resp, data)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev api.Event
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return errors.New("the node closed the event stream (it stopped)")
			}
			return fmt.Errorf("event stream: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// Client calls a node's control API.
type Client struct {
	path string
	hc   *http.Client
}

// IdleConnTimeout is how long the client keeps an idle connection: below the
// server's idle timeout (30 s, pkg/control), so a request never goes out on a
// connection the server is closing.
const IdleConnTimeout = 15 * time.Second

// New returns a client for the control socket at path.
func New(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		IdleConnTimeout: IdleConnTimeout,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *Client) do(ctx context.Context, method, route string, body, out any) error {
	return c.doWith(c.hc, ctx, method, route, body, out)
}

// doWith is do on hc (a client without the default timeout, for long calls).
func (c *Client) doWith(hc *http.Client, ctx context.Context, method, route string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://meshnode"+route, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("cannot reach the node's control socket %s (is `meshnode up` running with this --control?): %w", c.path, op.Err)
		}
		return fmt.Errorf("control API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	if resp.StatusCode >= 300 {
		return errorOf(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("control API answer: %w", err)
		}
	}
	return nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (api.StatusInfo, error) {
	var s api.StatusInfo
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Peers returns the node's peers.
func (c *Client) Peers(ctx context.Context) ([]api.PeerInfo, error) {
	var p []api.PeerInfo
	return p, c.do(ctx, http.MethodGet, "/v1/peers", nil, &p)
}

// Services returns the group's catalog as the node sees it.
func (c *Client) Services(ctx context.Context) ([]api.CatalogEntry, error) {
	var s []api.CatalogEntry
	return s, c.do(ctx, http.MethodGet, "/v1/services", nil, &s)
}

// Mappings returns the node's mappings.
func (c *Client) Mappings(ctx context.Context) ([]api.MappingInfo, error) {
	var m []api.MappingInfo
	return m, c.do(ctx, http.MethodGet, "/v1/mappings", nil, &m)
}

// AddMapping asks the node to map a service to a local port.
func (c *Client) AddMapping(ctx context.Context, req api.MappingRequest) (api.MappingInfo, error) {
	var m api.MappingInfo
	return m, c.do(ctx, http.MethodPost, "/v1/mappings", req, &m)
}

// RemoveMapping removes the mapping on port.
func (c *Client) RemoveMapping(ctx context.Context, port int) error {
	return c.do(ctx, http.MethodDelete, "/v1/mappings/"+strconv.Itoa(port), nil, nil)
}

// LocalServices lists what the node serves.
func (c *Client) LocalServices(ctx context.Context) ([]api.Service, error) {
	var s []api.Service
	return s, c.do(ctx, http.MethodGet, "/v1/serve", nil, &s)
}

// AddService makes the node serve s (serveid 0: assign one); it persists.
func (c *Client) AddService(ctx context.Context, s api.Service) (api.Service, error) {
	var got api.Service
	return got, c.do(ctx, http.MethodPost, "/v1/serve", s, &got)
}

// RemoveService stops serving a serveid.
func (c *Client) RemoveService(ctx context.Context, id api.ServeID) error {
	return c.do(ctx, http.MethodDelete, "/v1/serve/"+strconv.Itoa(int(id)), nil, nil)
}

// Reload asks the node to re-read its config file and apply what changed.
func (c *Client) Reload(ctx context.Context) (api.ReloadResult, error) {
	var res api.ReloadResult
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

// errorOf is the *api.Error for an error answer with body data.
func errorOf(resp *http.Response, data []byte) error {
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
		return &api.Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	return &api.Error{Status: resp.StatusCode, Code: api.CodeOf(resp.StatusCode), Message: fmt.Sprintf("control API answered %s", resp.Status)}
}
