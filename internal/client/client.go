// Package client is the typed Go client of pinjail's control API, used by
// the CLI and by tests.
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
	"net/url"
	"strings"
	"syscall"

	"github.com/pinjail/pinjail/internal/api"
)

// DefaultSocket is where the daemon listens unless configured otherwise.
const DefaultSocket = "/run/pinjail/pinjail.sock"

// ErrNotRunning is returned when no daemon answers on the socket.
var ErrNotRunning = errors.New("pinjail is not running (no daemon on the control socket)")

// Client talks to a daemon. The zero value uses DefaultSocket.
type Client struct {
	// Socket is the control socket's path.
	Socket string
	http   *http.Client
}

// New returns a client for the socket at path.
func New(path string) *Client { return &Client{Socket: path} }

func (c *Client) httpClient() *http.Client {
	if c.http == nil {
		path := c.Socket
		if path == "" {
			path = DefaultSocket
		}
		c.http = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		}}
	}
	return c.http
}

// APIError is an error the daemon answered with.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	// The host is never looked up: the transport dials the socket.
	req, err := http.NewRequestWithContext(ctx, method, "http://pinjail"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return ErrNotRunning
		}
		if errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("control socket: permission denied (run as root)")
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e api.Error
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Message == "" {
			e.Message = resp.Status
		}
		return &APIError{Status: resp.StatusCode, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func jailPath(pattern, jail string) string {
	return strings.Replace(pattern, "{jail}", url.PathEscape(jail), 1)
}

// Status lists the jails.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var s api.Status
	return s, c.do(ctx, http.MethodGet, api.PathStatus, nil, &s)
}

// JailStatus returns one jail's counters.
func (c *Client) JailStatus(ctx context.Context, jail string) (api.JailStatus, error) {
	var s api.JailStatus
	return s, c.do(ctx, http.MethodGet, jailPath(api.PathJail, jail), nil, &s)
}

// Ban bans addr in jail and returns how many bans were added.
func (c *Client) Ban(ctx context.Context, jail, addr string) (int, error) {
	var r api.BanResponse
	return r.Changed, c.do(ctx, http.MethodPost, jailPath(api.PathBan, jail), api.BanRequest{Addr: addr}, &r)
}

// Unban lifts addr's ban in jail and returns how many bans were lifted.
func (c *Client) Unban(ctx context.Context, jail, addr string) (int, error) {
	var r api.BanResponse
	return r.Changed, c.do(ctx, http.MethodPost, jailPath(api.PathUnban, jail), api.BanRequest{Addr: addr}, &r)
}

// UnbanAll lifts every ban of every jail.
func (c *Client) UnbanAll(ctx context.Context) (int, error) {
	var r api.BanResponse
	return r.Changed, c.do(ctx, http.MethodPost, api.PathUnbanAll, nil, &r)
}

// Banned lists current bans, of addr only when it is not empty.
func (c *Client) Banned(ctx context.Context, addr string) ([]api.Banned, error) {
	var r []api.Banned
	p := api.PathBanned
	if addr != "" {
		p += "?addr=" + url.QueryEscape(addr)
	}
	return r, c.do(ctx, http.MethodGet, p, nil, &r)
}

// Reload reloads the configuration of one jail, or of all when jail is "".
func (c *Client) Reload(ctx context.Context, jail string) (api.ReloadResponse, error) {
	var r api.ReloadResponse
	return r, c.do(ctx, http.MethodPost, api.PathReload, api.ReloadRequest{Jail: jail}, &r)
}

// Stop asks the daemon to stop.
func (c *Client) Stop(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, api.PathStop, nil, nil)
}
