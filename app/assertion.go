package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"gatehouse/storage"
)

// AssertionClaims are the claims of X-Gatehouse-Assertion (SPEC §4.6).
type AssertionClaims struct {
	Iss    string `json:"iss"`
	Sub    string `json:"sub"`
	Aud    string `json:"aud,omitempty"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Org    string `json:"org"`
	Tenant string `json:"tenant"`
	Role   string `json:"role"`
	SID    string `json:"sid"`
	Iat    int64  `json:"iat"`
	Exp    int64  `json:"exp"`
}

// Assertion returns the signed identity of a valid session for
// /auth/verify. aud is "" for none; the caller validated it (SPEC §4.6).
//
// Forward-auth runs on every page load, so a signed assertion is reused for
// the same session while every claim it carries (and the signing key) is
// unchanged and it has more than half its lifetime left. Anything that
// changes a claim — a new role or name, another key after a rotation, another
// aud — misses the cache and signs afresh; a deleted user or revoked session
// never gets here (Authenticate refuses it first).
func (s *Service) Assertion(ctx context.Context, id Identity, aud string) (string, error) {
	st, err := s.signing(ctx)
	if err != nil {
		return "", err
	}
	now := s.now()
	u := id.User
	want := assertionEntry{kid: st.kid, sub: u.ID, email: u.Email, name: u.Name, org: u.OrgID, tenant: u.TenantID, role: u.Role, aud: aud}
	ttl := s.cfg.Session.AssertionTTL
	if e := s.asserted.get(id.Session.ID); e != nil && e.sameClaims(&want) && !now.Before(e.iat) && now.Sub(e.iat) < ttl/2 {
		return e.token, nil
	}
	claims := AssertionClaims{
		Iss: s.cfg.PublicBaseURL(), Sub: u.ID, Aud: aud, Email: u.Email, Name: u.Name, Org: u.OrgID,
		Tenant: u.TenantID, Role: u.Role, SID: sessionSID(st.sidKey, id.Session.ID),
		Iat: now.Unix(), Exp: now.Add(ttl).Unix(),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := st.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", err
	}
	entry := want // a heap copy only on a miss: the hit path allocates nothing
	entry.iat, entry.token = now, token
	s.asserted.put(id.Session.ID, &entry)
	return token, nil
}

// sessionSID is the assertion's sid: HMAC-SHA256 of the stored session id
// keyed with the server's sid secret. Stable for the session's life, and
// useless for finding or forging the cookie (which the stored id is a hash of).
func sessionSID(key []byte, sessionID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// assertionEntry is one cached assertion and every value it was made from.
type assertionEntry struct {
	kid, sub, email, name, org, tenant, role, aud string
	iat                                           time.Time
	token                                         string
}

func (e *assertionEntry) sameClaims(o *assertionEntry) bool {
	return e.kid == o.kid && e.sub == o.sub && e.email == o.email && e.name == o.name && e.org == o.org &&
		e.tenant == o.tenant && e.role == o.role && e.aud == o.aud
}

// assertionCache is bounded: each shard keeps two generations of at most
// assertionShardSize entries and drops the older one when the newer fills,
// so memory stays flat however many sessions exist (a miss only costs one
// ES256 signature).
const (
	assertionShards    = 16
	assertionShardSize = 1024
)

type assertionCache struct {
	shards [assertionShards]assertionShard
}

type assertionShard struct {
	mu       sync.Mutex
	cur, old map[string]*assertionEntry
}

func (c *assertionCache) shard(sessionID string) *assertionShard {
	return &c.shards[storage.SessionShard(sessionID)%assertionShards]
}

func (c *assertionCache) get(sessionID string) *assertionEntry {
	sh := c.shard(sessionID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.cur[sessionID]; ok {
		return e
	}
	return sh.old[sessionID]
}

func (c *assertionCache) put(sessionID string, e *assertionEntry) {
	sh := c.shard(sessionID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.cur == nil {
		sh.cur = make(map[string]*assertionEntry, assertionShardSize)
	}
	if len(sh.cur) >= assertionShardSize {
		sh.old, sh.cur = sh.cur, make(map[string]*assertionEntry, assertionShardSize)
	}
	sh.cur[sessionID] = e
}
