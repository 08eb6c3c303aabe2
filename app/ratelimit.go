package app

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// KeyedLimiter is a token bucket per key (a client address, a partner) with
// memory bounded however many keys appear: keys live in two generations, and
// when the current one fills up the older is dropped. A dropped key starts
// over with a full bucket, which errs towards letting a client in, never
// towards locking everyone out.
//
// "N per minute" means what an operator reads into it (SPEC §3): a bucket
// of N tokens refilled evenly over a minute, one every minute/N. After a
// quiet minute N attempts in a burst all pass; a steady stream gets N a
// minute.
type KeyedLimiter struct {
	mu       sync.Mutex
	perMin   int
	every    rate.Limit
	maxKeys  int
	current  map[string]*rate.Limiter
	previous map[string]*rate.Limiter
	now      func() time.Time
}

// NewKeyedLimiter allows perMinute events per key (0 = unlimited) as a
// bucket of perMinute refilled over a minute, keeping at most 2×maxKeys
// buckets. now is the clock Allow reads (nil: the wall clock).
func NewKeyedLimiter(perMinute, maxKeys int, now func() time.Time) *KeyedLimiter {
	if now == nil {
		now = time.Now
	}
	l := &KeyedLimiter{perMin: perMinute, maxKeys: maxKeys, now: now,
		current: map[string]*rate.Limiter{}, previous: map[string]*rate.Limiter{}}
	if perMinute > 0 {
		l.every = rate.Every(time.Minute / time.Duration(perMinute))
	}
	return l
}

// Allow takes one token for key at the limiter's clock; when none is left
// it returns how long until one is.
func (l *KeyedLimiter) Allow(key string) (bool, time.Duration) {
	if l == nil || l.perMin <= 0 {
		return true, 0
	}
	return l.AllowAt(key, l.now())
}

// AllowAt is Allow at the instant now (a caller with its own clock).
func (l *KeyedLimiter) AllowAt(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.perMin <= 0 {
		return true, 0
	}
	l.mu.Lock()
	lim, ok := l.current[key]
	if !ok {
		if lim, ok = l.previous[key]; !ok {
			lim = rate.NewLimiter(l.every, l.perMin) // starts full
		}
		if len(l.current) >= l.maxKeys {
			l.previous, l.current = l.current, make(map[string]*rate.Limiter, l.maxKeys)
		}
		l.current[key] = lim
	}
	r := lim.ReserveN(now, 1)
	l.mu.Unlock()
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Size is how many keys the limiter holds (for tests of its bound).
func (l *KeyedLimiter) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.current) + len(l.previous)
}

// partnerLimiter adapts KeyedLimiter to PartnerLimiter.
type partnerLimiter struct{ *KeyedLimiter }

func (p partnerLimiter) AllowPartner(id string, now time.Time) (bool, time.Duration) {
	return p.AllowAt(id, now)
}

// NewPartnerLimiter limits sign-ins per partner (both paths together); nil when off.
func NewPartnerLimiter(perMinute int) PartnerLimiter {
	if perMinute <= 0 {
		return nil
	}
	return partnerLimiter{NewKeyedLimiter(perMinute, 10000, nil)}
}
