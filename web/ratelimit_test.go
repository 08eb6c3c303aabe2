package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"gatehouse/app"
)

// A limit of 10 a minute is a bucket of 10 (SPEC §3), so the eleventh
// quick attempt is refused.
const testBurst = 10

func expect429(t *testing.T, rec *httptest.ResponseRecorder, code string) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", rec.Code, rec.Body)
	}
	if got, _ := decodeError(t, rec); got != code {
		t.Errorf("code %q, want %q", got, code)
	}
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
}

func from(req *http.Request, remote, xff string) *http.Request {
	req.RemoteAddr = remote
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return req
}

func TestRateLimitPerIP(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerIP = 10 })
	bogus := "x.y.z"
	for i := 0; i < testBurst; i++ {
		if rec := f.do(from(tokenRequest(bogus), "192.0.2.1:1000", "")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	expect429(t, f.do(from(tokenRequest(bogus), "192.0.2.1:1000", "")), app.CodeRateLimited)
	// Even a valid token is refused: the limit is on attempts, before any work.
	expect429(t, f.do(from(tokenRequest(f.token(f.claims())), "192.0.2.1:1001", "")), app.CodeRateLimited)
	// The HMAC endpoints share the address's budget and answer in their own format.
	expect429(t, f.do(from(f.signedHMAC("ratelimit-nonce-0123456789", nil), "192.0.2.1:1002", "")), app.CodeHMACRateLimited)
	expect429(t, f.do(from(httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token=x", nil), "192.0.2.1:1003", "")), app.CodeHMACRateLimited)
	// Another address is not affected.
	if rec := f.do(from(tokenRequest(f.token(f.claims())), "192.0.2.2:1000", "")); rec.Code != http.StatusFound {
		t.Fatalf("another address: %d %s", rec.Code, rec.Body)
	}
	// Forward-auth and health are never limited.
	if rec := f.do(from(httptest.NewRequest(http.MethodGet, "/auth/verify", nil), "192.0.2.1:1000", "")); rec.Code != http.StatusUnauthorized {
		t.Fatalf("/auth/verify: %d", rec.Code)
	}
}

// TestRateLimitSpoofedForwardedFor: an untrusted peer cannot dodge the limit
// by inventing a new X-Forwarded-For for every attempt.
func TestRateLimitSpoofedForwardedFor(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerIP = 10 })
	for i := 0; i < testBurst; i++ {
		xff := fmt.Sprintf("198.51.100.%d", i)
		if rec := f.do(from(tokenRequest("x.y.z"), "192.0.2.1:1000", xff)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	req := from(tokenRequest("x.y.z"), "192.0.2.1:1000", "198.51.100.200")
	req.Header.Set("X-Real-IP", "198.51.100.201")
	req.Header.Set("True-Client-IP", "198.51.100.202")
	req.Header.Set("Forwarded", "for=198.51.100.203")
	expect429(t, f.do(req), app.CodeRateLimited)
}

// TestRateLimitThroughTrustedProxy: behind a trusted proxy the limit is per
// real client, read from X-Forwarded-For.
func TestRateLimitThroughTrustedProxy(t *testing.T) {
	f := newFixture(t, func(c *app.Config) {
		c.RateLimit.SigninPerIP = 10
		c.Server.TrustedProxies = []string{"192.0.2.0/24"}
	})
	for i := 0; i < 4*testBurst; i++ { // many clients behind one proxy
		xff := fmt.Sprintf("198.51.100.%d", i)
		if rec := f.do(from(tokenRequest("x.y.z"), "192.0.2.1:1000", xff)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("client %d behind the proxy: %d", i, rec.Code)
		}
	}
	for i := 0; i < testBurst; i++ {
		if rec := f.do(from(tokenRequest("x.y.z"), "192.0.2.1:1000", "203.0.113.9")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	expect429(t, f.do(from(tokenRequest("x.y.z"), "192.0.2.1:1000", "203.0.113.9")), app.CodeRateLimited)
	// A client that prepends a fake hop is still identified by what the
	// trusted proxy appended (the right-most untrusted address).
	expect429(t, f.do(from(tokenRequest("x.y.z"), "192.0.2.1:1000", "10.9.9.9, 203.0.113.9")), app.CodeRateLimited)
}

func TestRateLimitPerPartner(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerPartner = 10 })
	// Forgeries are refused before the partner's budget is touched, so an
	// attacker without the key cannot lock a partner out.
	_, keyB := keys(t)
	for i := 0; i < 3*testBurst; i++ {
		if rec := f.signIn(signAlg(t, "RS256", keyB, `{"alg":"RS256"}`, f.claimsJSON(nil))); rec.Code != http.StatusUnauthorized {
			t.Fatalf("forgery %d: %d", i, rec.Code)
		}
	}
	for i := 0; i < testBurst-1; i++ {
		if rec := f.signIn(f.token(f.claims())); rec.Code != http.StatusFound {
			t.Fatalf("sign-in %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	// Both paths share the partner's budget: the fifth goes through HMAC.
	if rec := f.do(f.signedHMAC("partner-nonce-0123456789", nil)); rec.Code != http.StatusOK {
		t.Fatalf("HMAC within the budget: %d %s", rec.Code, rec.Body)
	}
	before := f.counts()
	expect429(t, f.signIn(f.token(f.claims())), app.CodeRateLimited)
	expect429(t, f.do(f.signedHMAC("partner-nonce-abcdefghij", nil)), app.CodeHMACRateLimited)
	if after := f.counts(); after != before {
		t.Fatalf("a rate-limited sign-in wrote: %+v → %+v", before, after)
	}
	// The limit is per partner: another partner of the organization is free.
	f.beta()
	c := f.claims()
	c["organizationId"], c["tenantId"], c["email"] = "beta", "b1", "bob@beta.example"
	if rec := f.signIn(signAlg(t, "RS256", keyB, `{"alg":"RS256"}`, mustJSON(t, c))); rec.Code != http.StatusFound {
		t.Fatalf("another partner: %d %s", rec.Code, rec.Body)
	}
}

// TestRateLimitMemoryBounded: however many addresses appear, the limiter
// holds a bounded number of buckets.
func TestRateLimitMemoryBounded(t *testing.T) {
	t.Run("limiter", func(t *testing.T) {
		l := app.NewKeyedLimiter(60, 1000, nil)
		for i := 0; i < 150_000; i++ {
			l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255))
			if n := l.Size(); n > 2000 {
				t.Fatalf("after %d keys the limiter holds %d", i+1, n)
			}
		}
	})
	t.Run("server", func(t *testing.T) {
		f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerIP = 10 })
		const keys = 250_000
		for i := 0; i < keys; i++ {
			f.srv.ipLimiter.Allow(fmt.Sprintf("2001:db8::%x", i))
		}
		if n := f.srv.ipLimiter.Size(); n >= keys || n > 200_000 {
			t.Fatalf("the server's per-address limiter holds %d buckets after %d addresses", n, keys)
		}
		// Through HTTP, with addresses as a trusted proxy would report them.
		g := newFixture(t, func(c *app.Config) {
			c.RateLimit.SigninPerIP = 10
			c.Server.TrustedProxies = []string{"192.0.2.0/24"}
		})
		for i := 0; i < 3000; i++ {
			g.do(from(tokenRequest("x.y.z"), "192.0.2.1:1000", fmt.Sprintf("10.0.%d.%d", i>>8, i&255)))
		}
		if n := g.srv.ipLimiter.Size(); n != 3000 {
			t.Fatalf("3000 clients, %d buckets", n)
		}
	})
}

// TestRateLimitIPv6Prefix: an IPv6 client usually holds a whole /64, so the
// per-address limit counts the /64; rotating the interface id does not reset it.
func TestRateLimitIPv6Prefix(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerIP = 10 })
	for i := 0; i < testBurst; i++ {
		remote := fmt.Sprintf("[2001:db8:1:2::%x]:1000", i+1)
		if rec := f.do(from(tokenRequest("x.y.z"), remote, "")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	expect429(t, f.do(from(tokenRequest("x.y.z"), "[2001:db8:1:2:ffff:ffff:ffff:ffff]:1000", "")), app.CodeRateLimited)
	if rec := f.do(from(tokenRequest("x.y.z"), "[2001:db8:1:3::1]:1000", "")); rec.Code != http.StatusUnauthorized {
		t.Fatalf("another /64: %d", rec.Code)
	}
	// An IPv4-mapped address is the IPv4 client.
	for i := 0; i < testBurst; i++ {
		f.do(from(tokenRequest("x.y.z"), "192.0.2.77:1000", ""))
	}
	expect429(t, f.do(from(tokenRequest("x.y.z"), "[::ffff:192.0.2.77]:1000", "")), app.CodeRateLimited)
}

// TestRateLimitsMeanWhatTheySay is issue 10 item 12 through the HTTP
// handlers, on the fixture's clock: signin_per_ip = 300 admits 300
// attempts in a burst after a quiet minute (it used to admit 30), refills
// one every 200ms, and signin_per_partner has the same meaning.
func TestRateLimitsMeanWhatTheySay(t *testing.T) {
	t.Run("per ip", func(t *testing.T) {
		f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerIP = 300 })
		burst := func(round string) {
			for i := 0; i < 300; i++ {
				if rec := f.do(from(tokenRequest("x.y.z"), "192.0.2.7:1000", "")); rec.Code != http.StatusUnauthorized {
					t.Fatalf("%s: attempt %d of 300: %d", round, i+1, rec.Code)
				}
			}
			expect429(t, f.do(from(tokenRequest("x.y.z"), "192.0.2.7:1000", "")), app.CodeRateLimited)
		}
		burst("first minute")
		f.clock.Advance(200 * time.Millisecond) // one token, evenly refilled
		if rec := f.do(from(tokenRequest("x.y.z"), "192.0.2.7:1000", "")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("after 200ms: %d, want one more attempt", rec.Code)
		}
		expect429(t, f.do(from(tokenRequest("x.y.z"), "192.0.2.7:1000", "")), app.CodeRateLimited)
		f.clock.Advance(time.Minute)
		burst("after a quiet minute")
	})
	t.Run("per partner", func(t *testing.T) {
		f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerPartner = 40 })
		burst := func(round string) {
			for i := 0; i < 40; i++ {
				if rec := f.signIn(f.token(f.claims())); rec.Code != http.StatusFound {
					t.Fatalf("%s: sign-in %d of 40: %d %s", round, i+1, rec.Code, rec.Body)
				}
			}
			expect429(t, f.signIn(f.token(f.claims())), app.CodeRateLimited)
		}
		burst("first minute")
		f.clock.Advance(time.Minute)
		burst("after a quiet minute")
	})
}
