package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/app/jwks"
	"gatehouse/storage"
)

// Observer receives measurements (Prometheus in web); every method must be
// cheap and safe for concurrent use. A nil Observer records nothing.
type Observer interface {
	SignIn(method, outcome, code string, took time.Duration)
	KeyUsed(orgID, kid string, at time.Time)
	// JWKSRefreshFailed counts a failed fetch of a partner's jwks_url.
	JWKSRefreshFailed(partnerID string)
}

// PartnerLimiter throttles sign-ins per partner (both paths together).
type PartnerLimiter interface {
	// AllowPartner reports whether the partner may sign in one more user at
	// now (the service's clock), and if not, how long to wait.
	AllowPartner(partnerID string, now time.Time) (bool, time.Duration)
}

// Options are a Service's dependencies; Store and Config are required.
type Options struct {
	Store    storage.Store
	Config   Config
	KeyRing  *KeyRing // required for partner secrets (HMAC)
	Now      func() time.Time
	Random   io.Reader
	Logger   *slog.Logger
	Observer Observer
	Limiter  PartnerLimiter
	// JWKSFetcher fetches partners' jwks_url; nil builds the standard
	// hardened one from Config (tests inject one that trusts their CA).
	JWKSFetcher *jwks.Fetcher
	// Version is reported by health endpoints.
	Version string
}

// Service is the one implementation of every Gatehouse operation: the public
// sign-in and session flows and the administration that the HTTP API, the
// console and the CLI all call.
type Service struct {
	store    storage.Store
	cfg      Config
	ring     *KeyRing
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
	observer Observer
	limiter  PartnerLimiter
	version  string

	keys     keyCache
	jwks     jwksRefresher
	sign     signingCache   // the assertion signing key (signing.go)
	asserted assertionCache // signed assertions per session (assertion.go)
	keyTouch sync.Map       // orgID/kid → time.Time of the last recorded use
	// adminTouch: admin token id → time.Time of the last recorded use
	adminTouch sync.Map
	startedAt  time.Time
	// sealedFault is set when a sealed secret failed to open at runtime
	// (e.g. another instance sealed one under a key version this one lacks):
	// /readyz reports it until the database opens cleanly again.
	sealedFault atomic.Bool
}

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("app: a store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Random == nil {
		o.Random = defaultRandom
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{
		store: o.Store, cfg: o.Config, ring: o.KeyRing, now: o.Now, rand: o.Random,
		log: o.Logger, observer: o.Observer, limiter: o.Limiter, version: o.Version,
	}
	s.startedAt = s.now()
	s.jwks.fetcher = o.JWKSFetcher
	if s.jwks.fetcher == nil {
		s.jwks.fetcher = jwks.New(jwks.Options{AllowInsecure: o.Config.SSO.AllowInsecureJWKS, Now: s.now})
	}
	return s, nil
}

// Config returns the configuration the service runs with.
func (s *Service) Config() Config { return s.cfg }

// Store exposes the store to the composition root (backups, sweeps).
func (s *Service) Store() storage.Store { return s.store }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// keyCache holds each organization's parsed RSA keys — uploads and JWKS
// keys alike — and which of its partners publish a JWKS; parsing DER on every
// sign-in would cost more than the lookup. This process invalidates an
// organization on its own key changes (uploads, deletions, JWKS refreshes,
// jwks_url changes); changes made by another instance on a shared database
// arrive through the store's change feed (RunChangeFeed), and keyCacheTTL
// bounds how long a missed notification can keep a stale entry, so a key
// upload or removal anywhere applies everywhere within a second. gen guards
// against a reader storing a list loaded before an invalidation.
type keyCache struct {
	mu   sync.RWMutex
	orgs map[string]orgKeySet
	gen  atomic.Uint64
}

// orgKeySet is one organization's cache entry.
type orgKeySet struct {
	keys         []verifierKey
	jwksPartners []string  // ids of partners with a jwks_url
	loaded       time.Time // monotonic: the TTL must not follow an injected test clock
}

// verifierKey is one usable key.
type verifierKey struct {
	kid       string
	partnerID string
	pub       any
}

func (c *keyCache) get(orgID string) (orgKeySet, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.orgs[orgID]
	if !ok || time.Since(e.loaded) >= keyCacheTTL {
		return orgKeySet{}, false
	}
	return e, true
}

// keyCacheTTL is the fallback freshness bound (SPEC §7: a change applies on
// every instance within 1 second of its answer).
const keyCacheTTL = 500 * time.Millisecond

func (c *keyCache) put(orgID string, gen uint64, keys orgKeySet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if c.orgs == nil {
		c.orgs = map[string]orgKeySet{}
	}
	c.orgs[orgID] = keys
}

func (c *keyCache) invalidate(orgID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	delete(c.orgs, orgID)
}

func (c *keyCache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	clear(c.orgs)
}

// RunChangeFeed applies changes other instances commit to this process's
// caches until ctx ends. It returns at once for a store no other process
// writes (no storage.ChangeNotifier): there, every change goes through this
// Service, which invalidates as it writes.
func (s *Service) RunChangeFeed(ctx context.Context) {
	feed, ok := s.store.(storage.ChangeNotifier)
	if !ok {
		return
	}
	for ctx.Err() == nil {
		err := feed.Subscribe(ctx, s.applyChange)
		if ctx.Err() != nil {
			return
		}
		// The caches stay correct meanwhile: keyCacheTTL bounds staleness.
		s.log.Warn("change feed stopped; retrying", "err", err)
		s.keys.invalidateAll()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// applyChange drops what a change may have made stale.
func (s *Service) applyChange(c storage.Change) {
	switch c.Kind {
	case storage.ChangeKeys, storage.ChangePartners:
		if c.OrgID == "" {
			s.keys.invalidateAll()
			return
		}
		s.keys.invalidate(c.OrgID)
	case storage.ChangeAll:
		s.keys.invalidateAll()
	}
	// Tenants, users and sessions are read from the store on every request:
	// nothing of theirs is cached in process.
}

// orgKeys returns the organization's keys; storage.ErrNotFound when the
// organization does not exist.
func (s *Service) orgKeys(ctx context.Context, orgID string) ([]verifierKey, error) {
	set, err := s.orgKeySet(ctx, orgID)
	return set.keys, err
}

// orgJWKSPartners returns the ids of the organization's partners that
// publish a JWKS (from the key cache, so an unknown kid costs no store read).
func (s *Service) orgJWKSPartners(ctx context.Context, orgID string) ([]string, error) {
	set, err := s.orgKeySet(ctx, orgID)
	return set.jwksPartners, err
}

func (s *Service) orgKeySet(ctx context.Context, orgID string) (orgKeySet, error) {
	if set, ok := s.keys.get(orgID); ok {
		return set, nil
	}
	gen, loaded := s.keys.gen.Load(), time.Now()
	if _, err := s.store.GetOrg(ctx, orgID); err != nil {
		return orgKeySet{}, err
	}
	stored, err := s.store.ListKeys(ctx, orgID, "")
	if err != nil {
		return orgKeySet{}, err
	}
	partners, err := s.store.ListPartners(ctx, orgID)
	if err != nil {
		return orgKeySet{}, err
	}
	var jwksPartners []string
	for _, p := range partners {
		if p.JWKSURL != "" {
			jwksPartners = append(jwksPartners, p.ID)
		}
	}
	keys := make([]verifierKey, 0, len(stored))
	for _, k := range stored {
		pub, err := publicKeyFromDER(k.DER)
		if err != nil {
			s.log.Error("stored partner key does not parse; skipping it", "org", orgID, "kid", k.Kid, "err", err)
			continue
		}
		keys = append(keys, verifierKey{kid: k.Kid, partnerID: k.PartnerID, pub: pub})
	}
	set := orgKeySet{keys: keys, jwksPartners: jwksPartners, loaded: loaded}
	s.keys.put(orgID, gen, set)
	return set, nil
}

// readyTimeout bounds a readiness probe, so /readyz answers 503 promptly
// when a network database stops answering instead of hanging the prober.
const readyTimeout = 3 * time.Second

// Ready reports whether the database answers and the key ring works.
func (s *Service) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	if s.ring != nil {
		if err := s.ring.SelfTest(); err != nil {
			return err
		}
		if s.sealedFault.Load() {
			if err := CheckSealed(ctx, s.store, s.ring); err != nil {
				return err
			}
			s.sealedFault.Store(false)
		}
	}
	return nil
}

// Version is the build version.
func (s *Service) Version() string { return s.version }

func (s *Service) observeSignIn(method string, err error, started time.Time) {
	if s.observer == nil {
		return
	}
	outcome, code := "success", ""
	if err != nil {
		outcome, code = "failure", ErrorCode(err)
	}
	s.observer.SignIn(method, outcome, code, s.now().Sub(started))
}
