package e2e

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// newBrowser starts headless Chromium (Debian's package) with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := RequireTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1000, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// shotDir is where screenshots go: GATEHOUSE_SCREENSHOTS (e.g. docs/screenshots
// when regenerating them) or a temp dir.
func shotDir(t *testing.T) string {
	if d := os.Getenv("GATEHOUSE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// screenshot saves a full-page PNG at a desktop and at a phone width.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, v := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"", 1000, 700, false}, {"-phone", 390, 760, true}} {
		eo := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if v.mobile {
			eo = append(eo, chromedp.EmulateMobile)
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.w, v.h, eo...), chromedp.Sleep(100*time.Millisecond)); err != nil {
			t.Fatalf("viewport %s: %v", name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+v.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = chromedp.Do(ctx, chromedp.EmulateViewport(1000, 800))
}

// text is the visible text of the page body.
func text(t *testing.T, ctx context.Context) (string, string) {
	t.Helper()
	body, loc, err := pageText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return body, loc
}

func pageText(ctx context.Context) (string, string, error) {
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		return "", "", err
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	return body, loc, err
}

// portal is a partner portal on its own origin: /open?tenant=&expired= serves
// a page that auto-submits a freshly signed token to Gatehouse, as real
// portals do.
func startPortal(t *testing.T, w World, signInURL string, returnTo map[string]string) *httptest.Server {
	p := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		tenant := r.URL.Query().Get("tenant")
		args := []string{"--name", "Ann Reader"}
		if r.URL.Query().Get("expired") != "" {
			args = append(args, "--ttl", "-10m")
		}
		token := w.Sign(t, tenant, "ann.reader@example.com", "readOnly", args...)
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(rw, `<!doctype html><html lang=en><title>Partner portal</title>
<form id=sso method=post action="%s">
<input type=hidden name=token value="%s">
<input type=hidden name=return_to value="%s">
<noscript><button>Continue</button></noscript>
</form>
<script>document.getElementById("sso").submit()</script></html>`,
			html.EscapeString(signInURL), html.EscapeString(token), html.EscapeString(returnTo[tenant]))
	}))
	t.Cleanup(p.Close)
	return p
}

// localhostURL swaps 127.0.0.1 for a *.localhost name (Chromium resolves every
// *.localhost name to loopback).
func localhostURL(u, name string) string { return strings.Replace(u, "127.0.0.1", name, 1) }

// TestBrowserPartnerSignIn is issue 7's browser journey: a partner portal on
// another origin auto-submits a token; Chromium lands on a tenant dashboard
// behind nginx auth_request; the other tenant's dashboard says 403; logout
// ends access; an expired token shows the HTML error page.
func TestBrowserPartnerSignIn(t *testing.T) {
	RequireTool(t, "nginx")
	ctx := newBrowser(t)
	shots := shotDir(t)

	// Gatehouse at sso.gh.localhost, dashboards at t1/t2.gh.localhost: the
	// session cookie is shared with the siblings through cookie_domain.
	addr := FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	public := "http://sso.gh.localhost:" + port
	s := startAt(t, addr, public, "[session]\ncookie_domain = \"gh.localhost\"\n")
	w := s.Seed()

	d1 := startDashboard(t, "Tenant One dashboard", public)
	d2 := startDashboard(t, "Tenant Two dashboard", public)
	listen := startNginx(t, addr, public+"/", []proxySite{
		{Host: "t1.gh.localhost", Tenant: "t1", Upstream: upstreamAddr(d1.Server)},
		{Host: "t2.gh.localhost", Tenant: "t2", Upstream: upstreamAddr(d2.Server)},
	})
	_, nport, _ := net.SplitHostPort(listen)
	t1 := "http://t1.gh.localhost:" + nport + "/"
	t2 := "http://t2.gh.localhost:" + nport + "/"
	s.MustAPI("PATCH", "/api/v1/orgs/acme/tenants/t1", map[string]any{"redirect_url": t1, "allowed_return_urls": []string{t1}}, 200, nil)
	s.MustAPI("PATCH", "/api/v1/orgs/acme/tenants/t2", map[string]any{"redirect_url": t2, "allowed_return_urls": []string{t2}}, 200, nil)
	portal := startPortal(t, w, public+"/sso/jwt", map[string]string{"t1": t1 + "reports", "t2": t2})
	portalURL := localhostURL(portal.URL, "portal.localhost")

	// The landing page before sign-in.
	if err := chromedp.Do(ctx, chromedp.Navigate(public+"/"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	body, _ := text(t, ctx)
	if !strings.Contains(body, "not signed in") {
		t.Fatalf("landing page: %q", body)
	}
	screenshot(t, ctx, shots, "landing")

	// Portal → /sso/jwt → 302 → nginx → dashboard.
	if err := chromedp.Do(ctx, chromedp.Navigate(portalURL+"/open?tenant=t1"), chromedp.WaitVisible(chromedp.CSS("#identity"))); err != nil {
		t.Fatalf("sign-in journey: %v", err)
	}
	body, loc := text(t, ctx)
	if loc != t1+"reports" {
		t.Errorf("landed on %s, want %sreports", loc, t1)
	}
	for _, want := range []string{"Tenant One dashboard", "ann.reader@example.com", "Ann Reader", "acme", "t1", "readOnly"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, body)
		}
	}
	if h := d1.last(); h.Get("X-Gatehouse-Tenant") != "t1" || h.Get("X-Gatehouse-User") == "" {
		t.Errorf("dashboard upstream got %v", h)
	}

	// The landing page now says who is signed in.
	if err := chromedp.Do(ctx, chromedp.Navigate(public+"/"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	if body, _ := text(t, ctx); !strings.Contains(body, "You are signed in") || !strings.Contains(body, "ann.reader@example.com") {
		t.Errorf("signed-in landing page: %q", body)
	}
	screenshot(t, ctx, shots, "landing-signed-in")

	// The second tenant's dashboard refuses this user.
	n2 := d2.count()
	if err := chromedp.Do(ctx, chromedp.Navigate(t2), chromedp.WaitVisible(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
	if body, _ := text(t, ctx); !strings.Contains(body, "403") || d2.count() != n2 {
		t.Errorf("tenant t2 dashboard: %q (upstream requests %d → %d)", body, n2, d2.count())
	}

	// A sign-out form on the dashboard's origin is a cross-site sign-out:
	// refused with a page, and the session lives on.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(t1), chromedp.WaitVisible(chromedp.CSS("#crosssite")),
		chromedp.Click(chromedp.CSS("#crosssite")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "Sign-out refused")
	if body, _ := text(t, ctx); !strings.Contains(body, "AccessDenied") {
		t.Errorf("cross-site sign-out page: %q", body)
	}
	screenshot(t, ctx, shots, "cross-site-logout-refused")
	if err := chromedp.Do(ctx, chromedp.Navigate(t1), chromedp.WaitVisible(chromedp.CSS("#identity"))); err != nil {
		t.Fatalf("the session died from a cross-site sign-out: %v", err)
	}

	// Sign out on Gatehouse's own page; the dashboard is then out of reach.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(t1), chromedp.WaitVisible(chromedp.CSS("#logout")),
		chromedp.Click(chromedp.CSS("#logout")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "You are signed in")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action$="/logout"] button.secondary`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "not signed in")
	n1 := d1.count()
	if err := chromedp.Do(ctx, chromedp.Navigate(t1), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	body, loc = text(t, ctx)
	if d1.count() != n1 || loc != public+"/" || !strings.Contains(body, "not signed in") {
		t.Errorf("after logout the dashboard answered: %s %q", loc, body)
	}

	// An expired token: the HTML error page with its code.
	if err := chromedp.Do(ctx, chromedp.Navigate(portalURL+"/open?tenant=t1&expired=1"), chromedp.WaitVisible(chromedp.CSS("[role=alert]"))); err != nil {
		t.Fatalf("error page: %v", err)
	}
	body, _ = text(t, ctx)
	for _, want := range []string{"ExpiredToken", "expired", "partner portal"} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %q:\n%s", want, body)
		}
	}
	screenshot(t, ctx, shots, "error-expired")
}

// waitFor polls the page until its text contains want.
func waitFor(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A page that is navigating away answers with an error: try again.
		body, loc, err := pageText(ctx)
		if err == nil && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("page %s never showed %q (%v):\n%s", loc, want, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startAt is Start with a fixed listen address and public URL.
func startAt(t *testing.T, addr, public, extra string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: filepath.Join(dir, "data"), Base: "http://" + addr, Socket: filepath.Join(dir, "admin.sock"),
		Config: filepath.Join(dir, "config.toml")}
	cfg := fmt.Sprintf("[server]\nlisten = %q\npublic_url = %q\n\n[storage]\ndir = %q\n\n[admin]\nsocket = %q\n\n[ratelimit]\nsignin_per_ip = 0\n\n%s",
		addr, public, s.Dir, s.Socket, extra)
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.StartProcess()
	t.Cleanup(s.Stop)
	return s
}

// TestBrowserDemo walks `gatehouse demo` in Chromium: the portal page, the
// sign-in, the dashboard, and the expired-token error.
func TestBrowserDemo(t *testing.T) {
	ctx := newBrowser(t)
	shots := shotDir(t)
	addr := FreePort(t)
	cmd := exec.Command(Binary(t), "demo", "--listen", addr)
	runProxy(t, cmd, addr, func() string { return "" })
	base := "http://" + addr

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/demo"), chromedp.WaitVisible(chromedp.CSS("#email"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, shots, "demo-portal")
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#email"), "jo.admin@example.com"),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "jo.admin@example.com")
	if body, loc := text(t, ctx); !strings.HasSuffix(loc, "/demo/dashboard") || !strings.Contains(body, "demo-tenant") ||
		!strings.Contains(body, "/auth/verify?org=demo-org&tenant=demo-tenant") {
		t.Fatalf("demo dashboard: %s %q", loc, body)
	}
	screenshot(t, ctx, shots, "demo-dashboard")

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/demo"), chromedp.WaitVisible(chromedp.CSS("#expired")),
		chromedp.Click(chromedp.CSS("#expired")),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "ExpiredToken")
}
