package app

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// passes counts how many of n immediate attempts for key pass.
func passes(l *KeyedLimiter, key string, n int) int {
	ok := 0
	for i := 0; i < n; i++ {
		if allowed, _ := l.Allow(key); allowed {
			ok++
		}
	}
	return ok
}

// TestKeyedLimiterPerMinute is issue 10 item 12 at the shared limiter: N per
// minute is a bucket of N refilled evenly over a minute (SPEC §3).
func TestKeyedLimiterPerMinute(t *testing.T) {
	for _, n := range []int{1, 7, 30, 300, 1000} {
		clock := &fakeClock{t: time.Now()}
		l := NewKeyedLimiter(n, 100, clock.now)
		if got := passes(l, "k", n+5); got != n {
			t.Errorf("N=%d: a fresh burst passed %d, want %d", n, got, n)
		}
		ok, wait := l.Allow("k")
		if step := time.Minute / time.Duration(n); ok || wait <= 0 || wait > step {
			t.Errorf("N=%d: empty bucket: ok=%v wait=%v, want a wait in (0, %v]", n, ok, wait, step)
		}
		clock.advance(time.Minute / time.Duration(n))
		if got := passes(l, "k", 3); got != 1 {
			t.Errorf("N=%d: one refill interval later %d passed, want 1", n, got)
		}
		clock.advance(time.Minute)
		if got := passes(l, "k", n+5); got != n {
			t.Errorf("N=%d: after a quiet minute %d passed, want %d", n, got, n)
		}
		if got := passes(l, "other", n+1); got != n {
			t.Errorf("N=%d: another key has its own bucket: %d passed", n, got)
		}
	}
}

// TestKeyedLimiterSteadyRate: a client trying twice as often as allowed
// gets N a minute, not more, over ten minutes.
func TestKeyedLimiterSteadyRate(t *testing.T) {
	const n = 300
	clock := &fakeClock{t: time.Now()}
	l := NewKeyedLimiter(n, 100, clock.now)
	passes(l, "k", n) // drain the burst
	ok := 0
	step := time.Minute / (2 * n)
	for i := 0; i < 10*2*n; i++ {
		clock.advance(step)
		if allowed, _ := l.Allow("k"); allowed {
			ok++
		}
	}
	if ok < 10*n-1 || ok > 10*n+1 {
		t.Errorf("10 minutes at twice the rate: %d passed, want %d", ok, 10*n)
	}
}

// TestKeyedLimiterClockOfCaller: AllowAt uses the caller's instant, and 0
// per minute is unlimited.
func TestKeyedLimiterClockOfCaller(t *testing.T) {
	start := time.Now()
	l := NewKeyedLimiter(60, 10, func() time.Time { t.Fatal("AllowAt read the limiter's own clock"); return time.Time{} })
	for i := 0; i < 60; i++ {
		if ok, _ := l.AllowAt("k", start); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if ok, _ := l.AllowAt("k", start); ok {
		t.Fatal("61st attempt in the same instant passed")
	}
	if ok, _ := l.AllowAt("k", start.Add(time.Second)); !ok {
		t.Fatal("a second later one token is back")
	}
	off := NewKeyedLimiter(0, 10, nil)
	if got := passes(off, "k", 10000); got != 10000 {
		t.Errorf("0 per minute limited: %d of 10000", got)
	}
	p := NewPartnerLimiter(5)
	for i := 0; i < 5; i++ {
		if ok, _ := p.AllowPartner("p", start); !ok {
			t.Fatalf("partner attempt %d refused", i+1)
		}
	}
	if ok, wait := p.AllowPartner("p", start); ok || wait <= 0 || wait > 12*time.Second {
		t.Errorf("partner 6th attempt: %v %v", ok, wait)
	}
	if NewPartnerLimiter(0) != nil {
		t.Error("signin_per_partner = 0 must be off")
	}
}
