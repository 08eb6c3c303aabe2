package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestClusterBrowserBehindNginx is SPEC §7 end to end: two built binaries
// on one PostgreSQL database behind nginx (upstream round robin). Chromium
// signs in through the balancer and lands on a tenant dashboard whose
// forward-auth is answered by both instances (so by one that did not make
// the session); a jti used on one instance is refused on the other; a
// partner-side revocation and a deactivation made on one instance end
// sessions on the other.
func TestClusterBrowserBehindNginx(t *testing.T) {
	RequireTool(t, "nginx")
	ctx := newBrowser(t)
	lbAddr := FreePort(t)
	_, lbPort, _ := net.SplitHostPort(lbAddr)
	public := "http://sso.gh.localhost:" + lbPort
	// Debug level: forward-auth checks log only there (at info they would
	// bury everything else), and this test reads which node answered them.
	c := startCluster(t, 2, "", public, "[session]\ncookie_domain = \"gh.localhost\"\n\n[log]\nlevel = \"debug\"\n")
	a, b := c.nodes[0], c.nodes[1]
	w := a.Seed()

	d1 := startDashboard(t, "Tenant One dashboard", public+"/logout")
	startBalancerListen(t, lbAddr, c.nodes, public+"/", []proxySite{{Host: "t1.gh.localhost", Tenant: "t1", Upstream: upstreamAddr(d1.Server)}})
	t1 := "http://t1.gh.localhost:" + lbPort + "/"
	// Tenant changes made on B apply on A (nothing about tenants is cached).
	b.MustAPI("PATCH", "/api/v1/orgs/acme/tenants/t1", map[string]any{"redirect_url": t1, "allowed_return_urls": []string{t1}}, 200, nil)
	portal := startPortal(t, w, public+"/sso/jwt", map[string]string{"t1": t1 + "reports"})

	if err := chromedp.Do(ctx, chromedp.Navigate(localhostURL(portal.URL, "portal.localhost")+"/open?tenant=t1"), chromedp.WaitVisible(chromedp.CSS("#identity"))); err != nil {
		t.Fatalf("sign-in journey through the balancer: %v\nA:\n%s\nB:\n%s", err, a.Output(), b.Output())
	}
	body, loc := text(t, ctx)
	if loc != t1+"reports" || !strings.Contains(body, "ann.reader@example.com") {
		t.Fatalf("landed on %s:\n%s", loc, body)
	}
	// Reload until forward-auth has been answered by both instances.
	deadline := time.Now().Add(20 * time.Second)
	for !(servedBy(a, "GET", "/auth/verify", 200) && servedBy(b, "GET", "/auth/verify", 200)) {
		if time.Now().After(deadline) {
			t.Fatalf("forward-auth never reached both instances:\nA:\n%s\nB:\n%s\nnginx:\n%s", a.Output(), b.Output(), balancerLog)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(t1), chromedp.WaitVisible(chromedp.CSS("#identity"))); err != nil {
			t.Fatal(err)
		}
	}
	signedOnA, signedOnB := servedBy(a, "POST", "/sso/jwt", 302), servedBy(b, "POST", "/sso/jwt", 302)
	if signedOnA == signedOnB {
		t.Fatalf("want exactly one instance to have made the session (A %v, B %v)", signedOnA, signedOnB)
	}
	t.Logf("session made on %s, forward-auth answered by both", map[bool]string{true: "A", false: "B"}[signedOnA])

	// Cross-instance replay: a jti used on A is refused on B.
	tok := w.Sign(t, "t1", "replay@example.com", "readOnly")
	if r, _ := postToken(t, a.Browser, a.Base, "/sso/jwt", tok); r.StatusCode != http.StatusFound {
		t.Fatalf("first use on A: %d", r.StatusCode)
	}
	if r, _ := postToken(t, b.Browser, b.Base, "/sso/jwt", tok); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("replay on B: %d, want 401", r.StatusCode)
	}

	// Partner-side revocation on A ends the user's session on B.
	_, ck := postToken(t, b.Browser, b.Base, "/sso/jwt", w.Sign(t, "t1", "revoked@example.com", "readOnly"))
	if ck == nil || verifyStatus(t, b.Base, b.Browser, ck) != http.StatusOK {
		t.Fatal("sign-in on B for the revocation")
	}
	revoke := Run(t, "sign", "--key", w.KeyFile, "--org", w.Org, "--email", "revoked@example.com", "--action", "logout")
	if r, _ := postToken(t, a.Browser, a.Base, "/sso/jwt/revoke", revoke); r.StatusCode/100 != 2 {
		t.Fatalf("revoke on A: %d", r.StatusCode)
	}
	if code := verifyStatus(t, b.Base, b.Browser, ck); code != http.StatusUnauthorized {
		t.Errorf("revoked session on B: %d, want 401", code)
	}

	// Deactivation on B ends the browser's session everywhere: the
	// dashboard (through the balancer) sends it back to sign in.
	b.MustAPI("POST", "/api/v1/orgs/acme/partners/"+w.PartnerID+"/deactivate", nil, 200, nil)
	n := d1.count()
	for range 2 { // both instances, by round robin
		if err := chromedp.Do(ctx, chromedp.Navigate(t1), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatal(err)
		}
		if _, loc := text(t, ctx); loc != public+"/" || d1.count() != n {
			t.Errorf("after deactivation on B the dashboard answered at %s", loc)
		}
	}
	_, ckA := postToken(t, a.Browser, a.Base, "/sso/jwt", w.Sign(t, "t1", "late@example.com", "readOnly"))
	if ckA != nil {
		t.Error("A signed in a user for a partner deactivated on B")
	}
}

// TestClusterKillUnderLoad: a bounded load of sign-ins through nginx while
// one instance is killed with SIGKILL. Every sign-in whose 302 the client
// saw must be in the database afterwards (its user, and its session valid
// on the surviving instance): a 302 means committed. Then `gatehouse audit
// verify` passes over the log both instances wrote concurrently.
func TestClusterKillUnderLoad(t *testing.T) {
	RequireTool(t, "nginx")
	lbAddr := FreePort(t)
	c := startCluster(t, 2, "", "http://"+lbAddr, "[log]\nlevel = \"warn\"\n")
	a, b := c.nodes[0], c.nodes[1]
	w := a.Seed()
	sg := newSigner(t, w)
	startBalancerListen(t, lbAddr, c.nodes, "http://"+lbAddr+"/", nil)
	lb := "http://" + lbAddr

	const workers, perWorker = 4, 60
	type ack struct{ email, cookie string }
	var (
		mu    sync.Mutex
		acked []ack
		other atomic.Int64
		done  atomic.Int64
	)
	client := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := range perWorker {
				email := fmt.Sprintf("load-%d-%d@example.com", i, j)
				resp, ck := postTokenQuiet(client, lb, "/sso/jwt", sg.tokenQuiet("t1", email, "readOnly"))
				done.Add(1)
				if resp != nil && resp.StatusCode == http.StatusFound && ck != nil {
					mu.Lock()
					acked = append(acked, ack{email, ck.Value})
					mu.Unlock()
				} else {
					other.Add(1)
				}
			}
		}(i)
	}
	// Kill B once the load is well under way.
	for done.Load() < workers*perWorker/3 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.done
	wg.Wait()
	t.Logf("%d sign-ins acknowledged (302), %d not (during the kill), of %d", len(acked), other.Load(), workers*perWorker)
	if len(acked) < workers*perWorker/2 {
		t.Fatalf("too few sign-ins succeeded to judge: %d", len(acked))
	}
	for _, k := range acked {
		var users struct {
			Users []struct{ Email string } `json:"users"`
		}
		a.MustAPI("GET", "/api/v1/orgs/acme/users?q="+k.email, nil, 200, &users)
		if len(users.Users) != 1 {
			t.Errorf("acknowledged sign-in of %s: user not in the database", k.email)
			continue
		}
		if code := verifyStatus(t, a.Base, a.Browser, &http.Cookie{Name: "gatehouse_session", Value: k.cookie}); code != http.StatusOK {
			t.Errorf("acknowledged sign-in of %s: its session answers %d on the survivor", k.email, code)
		}
	}
	if out := Run(t, "audit", "verify", "--config", a.Config); !strings.HasPrefix(out, "audit chain OK") {
		t.Errorf("audit verify after concurrent writes from two instances: %s", out)
	} else {
		t.Log(out)
	}
}

func postTokenQuiet(c *http.Client, base, path, token string) (*http.Response, *http.Cookie) {
	resp, err := c.PostForm(base+path, map[string][]string{"token": {token}})
	if err != nil {
		return nil, nil
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatehouse_session" {
			return resp, ck
		}
	}
	return resp, nil
}

// TestSystemdPostgresDropInVerifies checks docs/gatehouse.service with the
// PostgreSQL drop-in of README "Running several instances" applied (systemd
// merges repeated sections, as it merges a drop-in) with systemd-analyze.
func TestSystemdPostgresDropInVerifies(t *testing.T) {
	sa := RequireTool(t, "systemd-analyze")
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "gatehouse.service"))
	if err != nil {
		t.Fatal(err)
	}
	dropIn, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "examples", "several-instances", "gatehouse-postgres.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GATEHOUSE_STORAGE__DRIVER=postgres", "EnvironmentFile=/etc/gatehouse/postgres.env", "StartLimitIntervalSec=0"} {
		if !strings.Contains(string(dropIn), want) {
			t.Errorf("drop-in lacks %s", want)
		}
	}
	dir := t.TempDir()
	env := filepath.Join(dir, "postgres.env")
	if err := os.WriteFile(env, []byte("GATEHOUSE_STORAGE__POSTGRES_URL=postgres://gatehouse@db.internal/gatehouse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	verifyUnit(t, sa, dir, strings.ReplaceAll(string(unit), "/usr/local/bin/gatehouse", Binary(t))+"\n"+
		strings.ReplaceAll(string(dropIn), "/etc/gatehouse/postgres.env", env))
}
