package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/app"
	"gatehouse/storage/bolt"
	"gatehouse/web"
	"gatehouse/web/client"
)

// adminServer is a real service on bbolt in a temp dir, its admin API served
// as `gatehouse serve` serves it: on a Unix socket as the operator, and on
// TCP with bearer admin tokens.
type adminServer struct {
	svc    *app.Service
	socket *client.Client
	tcpURL string
}

func newAdminServer(t *testing.T) *adminServer {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ring, err := app.NewKeyRing(map[int][]byte{1: make([]byte, 32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	svc, err := app.New(app.Options{Store: store, Config: app.Defaults(), KeyRing: ring, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Options{Service: svc, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sockH, err := srv.AdminHandler(web.OperatorAuth)
	if err != nil {
		t.Fatal(err)
	}
	tcpH, err := srv.AdminHandler(web.TokenAuth(svc))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ghcl") // short: a socket path is limited to about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	sock := &http.Server{Handler: sockH}
	go sock.Serve(ln)
	t.Cleanup(func() { sock.Close() })
	tcp := httptest.NewServer(tcpH)
	t.Cleanup(tcp.Close)
	return &adminServer{svc: svc, socket: client.New(path), tcpURL: tcp.URL}
}

// wantAPIError holds err to an API refusal with its code, and a message that
// names what went wrong: the same *app.Error the in-process service returns.
func wantAPIError(t *testing.T, what string, err error, code, inMessage string) {
	t.Helper()
	var e *app.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %T %v, want an *app.Error %s", what, err, err, code)
	}
	if e.Code != code || !strings.Contains(e.Message, inMessage) {
		t.Fatalf("%s: %s %q, want %s with %q in its message", what, e.Code, e.Message, code, inMessage)
	}
}

// TestAdminTokenMethods drives the admin-token methods of the typed client
// over a real socket and a real TCP listener: create shows the value once,
// list never does, a token works until revoked, and every refusal comes back
// with the server's code and message.
func TestAdminTokenMethods(t *testing.T) {
	s := newAdminServer(t)
	ctx := context.Background()
	op := s.socket
	for _, id := range []string{"acme", "beta"} {
		if _, err := op.CreateOrg(ctx, app.Operator, app.OrgInput{ID: id, Name: id + " MSSP"}); err != nil {
			t.Fatal(err)
		}
	}

	empty, err := op.ListAdminTokens(ctx, app.Operator, "acme")
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("no tokens yet: %#v %v, want an empty, non-nil list", empty, err)
	}

	admin, err := op.CreateAdminToken(ctx, app.Operator, "acme", app.AdminTokenInput{Role: "admin", Label: "ci deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(admin.ID, "tok_") || !strings.HasPrefix(admin.Token, "gha_") || admin.OrgID != "acme" ||
		admin.Role != "admin" || admin.Label != "ci deploy" || admin.CreatedAt.IsZero() {
		t.Fatalf("created: %+v", admin)
	}
	reader, err := op.CreateAdminToken(ctx, app.Operator, "acme", app.AdminTokenInput{Role: "readOnly", Label: "grafana"})
	if err != nil {
		t.Fatal(err)
	}

	listed, err := op.ListAdminTokens(ctx, app.Operator, "acme")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]app.AdminTokenView{}
	for _, tok := range listed {
		if tok.Token != "" {
			t.Fatalf("the list shows a token's value: %+v", tok)
		}
		byID[tok.ID] = tok
	}
	if len(listed) != 2 || byID[admin.ID].Label != "ci deploy" || byID[reader.ID].Role != "readOnly" {
		t.Fatalf("listed: %+v", listed)
	}
	if other, err := op.ListAdminTokens(ctx, app.Operator, "beta"); err != nil || len(other) != 0 {
		t.Fatalf("another organization's tokens: %+v %v", other, err)
	}

	// Refusals over the socket carry the server's code and message.
	_, err = op.CreateAdminToken(ctx, app.Operator, "acme", app.AdminTokenInput{Role: "root", Label: "x"})
	wantAPIError(t, "a bad role", err, app.CodeValidation, "role")
	_, err = op.CreateAdminToken(ctx, app.Operator, "nope", app.AdminTokenInput{Role: "admin", Label: "x"})
	wantAPIError(t, "an unknown organization", err, app.CodeNotFound, "")
	_, err = op.ListAdminTokens(ctx, app.Operator, "nope")
	wantAPIError(t, "listing an unknown organization", err, app.CodeNotFound, "")
	wantAPIError(t, "revoking an unknown token", op.RevokeAdminToken(ctx, app.Operator, "acme", "tok_nope"),
		app.CodeNotFound, "admin token")

	// Over TCP with the tokens: the admin token manages its organization's
	// tokens, the readOnly one only reads them, and neither reaches another.
	asAdmin, asReader := client.NewURL(s.tcpURL, admin.Token), client.NewURL(s.tcpURL, reader.Token)
	if got, err := asReader.ListAdminTokens(ctx, app.Operator, "acme"); err != nil || len(got) != 2 {
		t.Fatalf("readOnly lists: %+v %v", got, err)
	}
	_, err = asReader.CreateAdminToken(ctx, app.Operator, "acme", app.AdminTokenInput{Role: "admin", Label: "escalate"})
	wantAPIError(t, "a readOnly token creating one", err, app.CodeForbidden, "")
	_, err = asAdmin.ListAdminTokens(ctx, app.Operator, "beta")
	wantAPIError(t, "a token of another organization", err, app.CodeNotFound, "")
	temp, err := asAdmin.CreateAdminToken(ctx, app.Operator, "acme", app.AdminTokenInput{Role: "readOnly", Label: "temp"})
	if err != nil {
		t.Fatal(err)
	}
	if err := asAdmin.RevokeAdminToken(ctx, app.Operator, "acme", temp.ID); err != nil {
		t.Fatal(err)
	}

	// Revoked over the socket: the next request with it is refused.
	if err := op.RevokeAdminToken(ctx, app.Operator, "acme", reader.ID); err != nil {
		t.Fatal(err)
	}
	_, err = asReader.ListAdminTokens(ctx, app.Operator, "acme")
	wantAPIError(t, "a revoked token", err, app.CodeUnauthorized, "admin token")
	wantAPIError(t, "revoking it again", op.RevokeAdminToken(ctx, app.Operator, "acme", reader.ID), app.CodeNotFound, "")
	left, err := op.ListAdminTokens(ctx, app.Operator, "acme")
	if err != nil || len(left) != 1 || left[0].ID != admin.ID {
		t.Fatalf("after two revocations: %+v %v", left, err)
	}
}

// TestClientErrorsNameWhere: a failure to reach the server is not an API
// refusal, and names the socket or URL it tried.
func TestClientErrorsNameWhere(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "no.sock")
	_, err := client.New(missing).ListAdminTokens(ctx, app.Operator, "acme")
	var e *app.Error
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("no server on the socket: %v", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = client.NewURL(closed.URL, "gha_x").ListAdminTokens(ctx, app.Operator, "acme")
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), closed.URL) {
		t.Fatalf("no server at the URL: %v", err)
	}
}
