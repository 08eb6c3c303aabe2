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
type KeyedLimiter struct {
	mu       sync.Mutex
	perMin   int
	maxKeys  int
	current  map[string]*rate.Limiter
	previous map[string]*rate.Limiter
	now      func() time.Time
}

// NewKeyedLimiter allows perMinute events per key (0 = unlimited), with a
// burst of a tenth of a minute's allowance, keeping at most 2×maxKeys buckets.
func NewKeyedLimiter(perMinute, maxKeys int, now func() time.Time) *KeyedLimiter {
	if now == nil {
		now = time.Now
	}
	return &KeyedLimiter{perMin: perMinute, maxKeys: maxKeys, now: now,
		current: map[string]*rate.Limiter{}, previous: map[string]*rate.Limiter{}}
}

// Allow takes one token for key; when none is left it returns how long until one is.
func (l *KeyedLimiter) Allow(key string) (bool, time.Duration) {
	if l == nil || l.perMin <= 0 {
		return true, 0
	}
	l.mu.Lock()
	lim, ok := l.current[key]
	if !ok {
		if lim, ok = l.previous[key]; !ok {
			burst := l.perMin / 10
			if burst < 5 {
				burst = 5
			}
			lim = rate.NewLimiter(rate.Limit(float64(l.perMin)/60), burst)
		}
		if len(l.current) >= l.maxKeys {
			l.previous, l.current = l.current, make(map[string]*rate.Limiter, l.maxKeys)
		}
		l.current[key] = lim
	}
	now := l.now()
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

func (p partnerLimiter) AllowPartner(id string) (bool, time.Duration) { return p.Allow(id) }

// NewPartnerLimiter limits sign-ins per partner (both paths together); nil when off.
func NewPartnerLimiter(perMinute int) PartnerLimiter {
	if perMinute <= 0 {
		return nil
	}
	return partnerLimiter{NewKeyedLimiter(perMinute, 10000, nil)}
}
