package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"syscall"
)

// MaxSocketPath is the longest Unix socket path the kernel accepts
// (sun_path less its terminating NUL): 107 bytes on Linux, 103 on the BSDs
// and macOS. A longer admin.socket cannot be bound or dialled at all, so
// `gatehouse serve` refuses it before it writes anything and a client says
// so instead of "invalid argument".
var MaxSocketPath = func() int {
	if runtime.GOOS == "linux" {
		return 107
	}
	return 103
}()

// transportError turns a failed request into one line that names where it
// went (the socket path or the admin URL) and, for the failures an operator
// meets (no socket, a stale one, the wrong user, nothing listening), what
// that means; err stays wrapped for errors.Is.
func (c *Client) transportError(method, path string, err error) error {
	where := "admin socket " + c.socket
	if c.token != "" {
		where = "admin API " + c.socket
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // drop `Get "http://gatehouse/…":`, the host is made up
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return fmt.Errorf("%s: %s %s: %w", where, method, path, err)
	}
	return fmt.Errorf("%s: %w", where, dialReason(c.socket, c.token == "", err))
}

// reasonError is a dial failure explained, still unwrapping to the cause.
type reasonError struct {
	text string
	err  error
}

func (r *reasonError) Error() string { return r.text }
func (r *reasonError) Unwrap() error { return r.err }

// dialReason explains a failed dial of the admin socket (unix) or of the TCP
// admin listener.
func dialReason(where string, unix bool, err error) error {
	say := func(text string) error { return &reasonError{text: text, err: err} }
	if !unix {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return say("connection refused (nothing listens there: is the server running with admin.listen set to this address?)")
		case errors.Is(err, context.DeadlineExceeded), os.IsTimeout(err):
			return say("no answer (timed out): a firewall, or the wrong host")
		}
		return err
	}
	switch {
	case len(where) > MaxSocketPath:
		return say(fmt.Sprintf("path is %d bytes, longer than the %d a Unix socket path may have (set admin.socket to a shorter path)", len(where), MaxSocketPath))
	case errors.Is(err, syscall.ENOENT):
		return say("no such socket (is `gatehouse serve` running, with the same admin.socket or storage.dir as this --config?)")
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return say("permission denied (run as the server's user, or as a member of admin.socket_group)")
	case errors.Is(err, syscall.ENOTDIR):
		return say("a directory on that path is a file (is admin.socket or storage.dir right?)")
	case errors.Is(err, syscall.ECONNREFUSED):
		if fi, statErr := os.Stat(where); statErr == nil && fi.Mode()&os.ModeSocket == 0 {
			return say("not a socket (a " + fileKind(fi) + " is at that path; is admin.socket right?)")
		}
		return say("connection refused (the socket is left from a server that is no longer running: start `gatehouse serve`)")
	}
	return err
}

func fileKind(fi os.FileInfo) string {
	if fi.IsDir() {
		return "directory"
	}
	return "regular file"
}

// Probe reports why no server answers on the socket at path (nil when one
// does): the dial failure explained, or the health check's error. Commands
// that fall back to opening the database themselves put this reason in
// their message when that fails too.
func Probe(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	resp, err := New(path).send(ctx, http.MethodGet, "/api/v1/health", nil, false)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin socket %s: the health check answered %s", path, resp.Status)
	}
	return nil
}
