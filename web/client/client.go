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
	"os"
	"time"

	"gatehouse/app"
)

// Client is an admin API client bound to one socket.
type Client struct {
	http   *http.Client
	socket string
}

// New returns a client for the socket at path.
func New(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}, socket: path}
}

// Reachable reports whether a server answers on the socket.
func Reachable(path string) bool {
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return New(path).Do(ctx, http.MethodGet, "/api/v1/health", nil, nil) == nil
}

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
	req, err := http.NewRequestWithContext(ctx, method, "http://gatehouse"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", c.socket, err)
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

// StatusError is a non-2xx answer that carried no API error body.
type StatusError struct {
	Status int
	Text   string
}

func (e *StatusError) Error() string { return "admin API: " + e.Text }

func asStatus(err error, target **StatusError) bool { return errors.As(err, target) }
