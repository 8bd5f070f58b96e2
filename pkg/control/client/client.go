package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/v1/events"), nil)
	if err != nil {
		return err
	}
	c.authorize(req)
	hc := *c.hc
	hc.Timeout = 0 // a stream
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return errorOf(resp, data)
	}
	if c.path == "" {
		return sseEvents(ctx, resp.Body, fn)
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

// Client calls a node's control API, on its unix socket (New) or over HTTP(S)
// with the API key (NewHTTP).
type Client struct {
	path string // the socket; "" over HTTP
	hc   *http.Client
	base string // "http://meshnode/v1" on the socket; the HTTP API's URL and /api/v1
	key  string // the HTTP API's key
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
	return &Client{path: path, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, base: "http://meshnode/v1"}
}

// NewHTTP returns a client of the HTTP API (`meshnode up --api`) at baseURL
// ("https://host:7750"), sending key with every request. tlsConfig, when not
// nil, is used for https (a private CA's RootCAs, for instance). Down is not
// on the HTTP API.
func NewHTTP(baseURL, key string, tlsConfig *tls.Config) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("API URL %q: want http://HOST:PORT or https://HOST:PORT", baseURL)
	}
	if key == "" {
		return nil, errors.New("no API key given")
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tlsConfig, IdleConnTimeout: IdleConnTimeout}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		base: strings.TrimSuffix(u.String(), "/") + "/api/v1", key: key}, nil
}

// url is the URL of route ("/v1/status": the socket's form).
func (c *Client) url(route string) string {
	return c.base + strings.TrimPrefix(route, "/v1")
}

// unreachable is the error for a node that does not answer.
func (c *Client) unreachable(err error) error {
	if c.path == "" {
		return fmt.Errorf("cannot reach the node's HTTP API at %s: %w", strings.TrimSuffix(c.base, "/api/v1"), err)
	}
	return fmt.Errorf("cannot reach the node's control socket %s (is `meshnode up` running with this --control?): %w", c.path, err)
}

func (c *Client) authorize(req *http.Request) {
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
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
	req, err := http.NewRequestWithContext(ctx, method, c.url(route), rd)
	if err != nil {
		return err
	}
	c.authorize(req)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return c.unreachable(op.Err)
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

// ChangeService changes what the node serves under id (target, name, info,
// proto); the serveid and its claim stay.
func (c *Client) ChangeService(ctx context.Context, id api.ServeID, s api.Service) (api.Service, error) {
	var got api.Service
	return got, c.do(ctx, http.MethodPut, "/v1/serve/"+strconv.Itoa(int(id)), s, &got)
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

// maxSSELine bounds one line of an event stream.
const maxSSELine = 1 << 20

// sseEvents reads the HTTP API's Server-Sent Events, calling fn with each
// event; comments (heartbeats) and resync notices are skipped.
func sseEvents(ctx context.Context, body io.Reader, fn func(api.Event) error) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 4096), maxSSELine)
	var kind, data string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data != "" && kind != "resync" {
				var ev api.Event
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					return fmt.Errorf("event stream: %w", err)
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			kind, data = "", ""
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			kind = value
		case "data":
			data += value
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return errors.New("the node closed the event stream (it stopped)")
}
