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
	"strings"
	"time"

	"gatehouse/app"
)

// Client is an admin API client bound to one socket, or to one TCP admin
// listener with a bearer token.
type Client struct {
	http   *http.Client
	socket string // what error messages name: the socket path or the URL
	base   string // scheme and host (and path prefix) requests go to
	token  string // bearer token for TCP; empty on the socket
}

// New returns a client for the socket at path.
func New(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}, socket: path, base: "http://gatehouse"}
}

// NewURL returns a client for the TCP admin listener at base (http:// or
// https://host:port), sending token as its bearer credential.
func NewURL(base, token string) *Client {
	base = strings.TrimRight(base, "/")
	return &Client{http: &http.Client{Timeout: 5 * time.Minute}, socket: base, base: base, token: token}
}

// probeTimeout bounds Probe: a server that does not answer its health
// check within it is treated as absent.
const probeTimeout = 2 * time.Second

// Do sends in as JSON (if not nil) and decodes a 2xx answer into out (if
// not nil). Error answers come back as *app.Error with the server's code and
// message, so callers handle them exactly like the in-process service's.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, body, in != nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message string }
		if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e) == nil && e.Code != "" {
			return &app.Error{Code: e.Code, Message: e.Message}
		}
		return &StatusError{Status: resp.StatusCode, Text: resp.Status}
	}
	if out == nil {
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) send(ctx context.Context, method, path string, body io.Reader, isJSON bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(method, path, err)
	}
	return resp, nil
}

// Answer is an admin API answer as it came, for callers that print it.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Raw sends body (JSON, or nil) and returns the answer whatever its status;
// err is only a failure to get one.
func (c *Client) Raw(ctx context.Context, method, path string, body []byte) (Answer, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	resp, err := c.send(ctx, method, path, r, body != nil)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, fmt.Errorf("admin API %s: reading the answer: %w", c.socket, err)
	}
	return Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b}, nil
}

// StatusError is a non-2xx answer that carried no API error body.
type StatusError struct {
	Status int
	Text   string
}

func (e *StatusError) Error() string { return "admin API: " + e.Text }

func asStatus(err error, target **StatusError) bool { return errors.As(err, target) }
