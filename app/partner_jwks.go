package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"gatehouse/app/jwks"
	"gatehouse/storage"
)

// Partner keys from a JWKS URL (SPEC §4.7). The set lives in the store as the
// partner's KeySourceJWKS keys, so the sign-in path and the key cache treat
// them exactly like uploads; this file decides which members of a fetched set
// become keys, and when a set is fetched again.

// jwksRefresher is this process's schedule of JWKS fetches.
type jwksRefresher struct {
	fetcher *jwks.Fetcher
	// flights shares one fetch among every caller that wants the same
	// partner's set at the same time (concurrent sign-ins naming a new kid).
	flights singleflight.Group

	mu     sync.Mutex
	states map[string]*jwksSchedule // partner id →
}

// jwksSchedule: nextDue is the next background refresh; lastFetch the start
// of the newest fetch of any kind (jwks_min_interval counts from it).
type jwksSchedule struct {
	nextDue   time.Time
	lastFetch time.Time
}

func (r *jwksRefresher) schedule(partnerID string) *jwksSchedule {
	if r.states == nil {
		r.states = map[string]*jwksSchedule{}
	}
	st, ok := r.states[partnerID]
	if !ok {
		st = &jwksSchedule{}
		r.states[partnerID] = st
	}
	return st
}

func (r *jwksRefresher) forget(partnerID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.states, partnerID)
}

// noteFetch records a fetch starting at now and schedules the next background one.
func (r *jwksRefresher) noteFetch(partnerID string, now time.Time, every time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.schedule(partnerID)
	st.lastFetch = now
	st.nextDue = now.Add(jittered(every))
}

// jittered spreads refreshes of many partners (and of several instances)
// over the last tenth of the interval, so they never all fetch at once and
// no set is ever older than the interval.
func jittered(every time.Duration) time.Duration {
	spread := int64(every / 10)
	if spread <= 0 {
		return every
	}
	return every - time.Duration(rand.Int64N(spread))
}

// Audit event and fetch triggers.
const (
	eventJWKSRefreshFailed = "partner.jwks_refresh_failed"
	triggerSchedule        = "schedule"
	triggerUnknownKid      = "unknown_kid"
)

// checkJWKSURL validates a jwks_url field.
func (s *Service) checkJWKSURL(raw string) (string, error) {
	u, err := jwks.CheckURL(raw, s.cfg.SSO.AllowInsecureJWKS)
	if err != nil {
		return "", validation("jwks_url", "%s", err.Error())
	}
	return u.String(), nil
}

// fetchJWKSKeys fetches the set at url and returns the keys partnerID may
// take from it (partnerID "" for a partner not created yet). A fetch that
// fails, or leaves no usable key, is an error with the reason.
func (s *Service) fetchJWKSKeys(ctx context.Context, orgID, partnerID, url string) ([]storage.Key, time.Time, error) {
	set, err := s.jwks.fetcher.Fetch(ctx, url)
	if err != nil {
		return nil, time.Time{}, jwksProblem{err}
	}
	existing, err := s.store.ListKeys(ctx, orgID, "")
	if err != nil {
		return nil, time.Time{}, err
	}
	type holder struct{ partnerID, source string }
	byKid, byFP := map[string]holder{}, map[string]holder{}
	for _, k := range existing {
		if k.PartnerID == partnerID && k.Source == storage.KeySourceJWKS {
			continue // this very set's previous version: replaced, not a collision
		}
		h := holder{k.PartnerID, k.Source}
		byKid[k.Kid], byFP[k.Fingerprint] = h, h
	}
	var keys []storage.Key
	var ignored []string
	ignore := func(kid, why string) {
		ignored = append(ignored, fmt.Sprintf("%q: %s", kid, why))
		s.log.Warn("jwks key ignored", "org", orgID, "partner", partnerID, "kid", kid, "reason", why)
	}
	for _, m := range set.Keys {
		switch {
		case m.Problem != "":
			ignore(m.Kid, m.Problem)
			continue
		case m.Use != "" && m.Use != "sig":
			ignore(m.Kid, fmt.Sprintf("use %q is not sig", m.Use))
			continue
		case m.Alg != "" && m.Alg != "RS256":
			ignore(m.Kid, fmt.Sprintf("alg %q is not RS256", m.Alg))
			continue
		case !ValidKid(m.Kid): // the same rule as uploads (SPEC §5)
			ignore(m.Kid, "kid must be 1–128 of A–Z a–z 0–9 . _ ~ -")
			continue
		}
		pk, err := describeKey(m.Public)
		if err != nil {
			ignore(m.Kid, err.Error())
			continue
		}
		if h, taken := byKid[m.Kid]; taken {
			ignore(m.Kid, holderReason("kid", h.partnerID, partnerID))
			continue
		}
		if h, taken := byFP[pk.Fingerprint]; taken {
			ignore(m.Kid, holderReason("public key (thumbprint)", h.partnerID, partnerID))
			continue
		}
		byKid[m.Kid], byFP[pk.Fingerprint] = holder{partnerID, storage.KeySourceJWKS}, holder{partnerID, storage.KeySourceJWKS}
		keys = append(keys, storage.Key{Kid: m.Kid, OrgID: orgID, PartnerID: partnerID, Fingerprint: pk.Fingerprint,
			Bits: pk.Bits, DER: pk.DER, Source: storage.KeySourceJWKS, CreatedAt: set.FetchedAt.UTC()})
	}
	if len(keys) == 0 {
		why := "the set holds no keys"
		if len(ignored) > 0 {
			if len(ignored) > 5 {
				ignored = append(ignored[:5], fmt.Sprintf("and %d more", len(ignored)-5))
			}
			why = strings.Join(ignored, "; ")
		}
		return nil, time.Time{}, jwksProblemf("no usable key in the set (RSA, use sig, alg RS256, 2048–8192 bits, kid of A–Z a–z 0–9 . _ ~ -): %s", why)
	}
	return keys, set.FetchedAt.UTC(), nil
}

// jwksProblem is a fetch that failed or a set without a usable key: the
// partner's problem (a validation_error at create/PATCH), not the store's.
type jwksProblem struct{ error }

func jwksProblemf(format string, args ...any) error { return jwksProblem{fmt.Errorf(format, args...)} }

// asJWKSValidation turns a jwksProblem into the validation_error naming jwks_url.
func asJWKSValidation(err error) error {
	var p jwksProblem
	if errors.As(err, &p) {
		return validation("jwks_url", "%s", p.Error())
	}
	return err
}

func holderReason(what, holder, self string) string {
	if holder == self {
		return what + " is already an uploaded key of this partner"
	}
	return what + " already belongs to partner " + holder
}

// storeFirstJWKS stores a new partner's first set. The set was checked
// against the organization's keys before the partner was created; should
// every key have been taken meanwhile (a concurrent upload), the partner is
// removed again, so a refused registration leaves nothing behind.
func (s *Service) storeFirstJWKS(ctx context.Context, p storage.Partner, keys []storage.Key) error {
	_, stored, err := s.store.SyncJWKSKeys(ctx, p.OrgID, p.ID, keys, func(cur storage.Partner) (storage.Partner, error) { return cur, nil })
	if err == nil && len(stored) == 0 {
		err = validation("jwks_url", "every usable key of the set was meanwhile taken by another key of the organization")
	}
	if err != nil {
		if derr := s.store.DeletePartner(ctx, p.OrgID, p.ID); derr != nil {
			s.log.Error("could not remove a partner whose JWKS keys failed to store", "partner", p.ID, "err", derr)
		}
		return err
	}
	s.keys.invalidate(p.OrgID)
	s.jwks.noteFetch(p.ID, s.now(), s.cfg.SSO.JWKSRefresh)
	return nil
}

// errStaleFetch aborts storing a set fetched from a URL the partner no longer has.
var errStaleFetch = errors.New("jwks_url changed during the fetch")

// refreshJWKS fetches one partner's set and stores it, or records why not
// (keeping the last good set). Its error is a store failure; the fetch's own
// failure is recorded, not returned.
func (s *Service) refreshJWKS(ctx context.Context, p storage.Partner, trigger string) error {
	url := p.JWKSURL
	s.jwks.noteFetch(p.ID, s.now(), s.cfg.SSO.JWKSRefresh)
	keys, fetchedAt, err := s.fetchJWKSKeys(ctx, p.OrgID, p.ID, url)
	if err == nil {
		_, _, err = s.store.SyncJWKSKeys(ctx, p.OrgID, p.ID, keys, func(cur storage.Partner) (storage.Partner, error) {
			if cur.JWKSURL != url {
				return cur, errStaleFetch
			}
			cur.JWKSFetchedAt, cur.JWKSError, cur.JWKSErrorAt = fetchedAt, "", time.Time{}
			return cur, nil
		})
		if errors.Is(err, errStaleFetch) || errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		s.keys.invalidate(p.OrgID)
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: not the partner's failure
	}
	return s.recordJWKSFailure(ctx, p, url, trigger, err)
}

// recordJWKSFailure keeps the last good set and records the failure: on the
// partner (the console shows it), in the metric, in the log, and — at most
// once per jwks_refresh per partner, on every instance together — in the audit.
func (s *Service) recordJWKSFailure(ctx context.Context, p storage.Partner, url, trigger string, cause error) error {
	now := s.now().UTC()
	reason := cause.Error()
	audit := false
	_, err := s.store.UpdatePartner(ctx, p.OrgID, p.ID, func(cur storage.Partner) (storage.Partner, error) {
		if cur.JWKSURL != url {
			return cur, errStaleFetch
		}
		audit = cur.JWKSFailureAuditedAt.IsZero() || now.Sub(cur.JWKSFailureAuditedAt) >= s.cfg.SSO.JWKSRefresh
		cur.JWKSError, cur.JWKSErrorAt = reason, now
		if audit {
			cur.JWKSFailureAuditedAt = now
		}
		return cur, nil
	})
	if errors.Is(err, errStaleFetch) || errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if s.observer != nil {
		s.observer.JWKSRefreshFailed(p.ID)
	}
	s.log.Warn("jwks refresh failed; keeping the last good set", "org", p.OrgID, "partner", p.ID, "trigger", trigger, "reason", reason)
	if err != nil {
		return err
	}
	if audit {
		id, _ := newID(s.rand, "evt_")
		e := storage.AuditEvent{ID: id, Time: now, Type: eventJWKSRefreshFailed, Actor: "system", Outcome: "failure",
			Code: "jwks_refresh_failed", OrgID: p.OrgID, PartnerID: p.ID,
			Details: canonicalDetails(map[string]any{"target": p.ID, "jwks_url": url, "error": reason, "trigger": trigger})}
		if _, err := s.store.AppendAudit(ctx, e); err != nil {
			s.log.Error("audit append failed", "type", eventJWKSRefreshFailed, "err", err)
		}
	}
	return nil
}

// RefreshDueJWKS refreshes every partner whose set is due by the service's
// clock (jwks_refresh after its last fetch, minus jitter) and returns how
// many it fetched. RunJWKSRefresher calls it; tests call it after moving
// their clock.
func (s *Service) RefreshDueJWKS(ctx context.Context) (int, error) {
	orgs, err := s.store.ListOrgs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range orgs {
		ps, err := s.store.ListPartners(ctx, o.ID)
		if err != nil {
			return n, err
		}
		for _, p := range ps {
			if p.JWKSURL == "" || !s.jwksDue(p) {
				continue
			}
			p := p
			_, err, _ := s.jwks.flights.Do(p.ID, func() (any, error) {
				return nil, s.refreshJWKS(ctx, p, triggerSchedule) // shutdown cancels it
			})
			if err != nil {
				s.log.Error("jwks refresh could not be stored", "partner", p.ID, "err", err)
			}
			n++
		}
	}
	return n, nil
}

// jwksDue: this process fetched the set jwks_refresh ago (with jitter), or,
// after a restart, the stored fetch time says so.
func (s *Service) jwksDue(p storage.Partner) bool {
	now := s.now()
	s.jwks.mu.Lock()
	defer s.jwks.mu.Unlock()
	st := s.jwks.schedule(p.ID)
	if st.nextDue.IsZero() {
		last := p.JWKSFetchedAt
		if p.JWKSErrorAt.After(last) {
			last = p.JWKSErrorAt
		}
		st.nextDue = last.Add(jittered(s.cfg.SSO.JWKSRefresh))
	}
	return !now.Before(st.nextDue)
}

// RunJWKSRefresher refreshes due key sets until ctx ends.
func (s *Service) RunJWKSRefresher(ctx context.Context) {
	tick := min(max(s.cfg.SSO.JWKSRefresh/10, time.Second), time.Minute)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.RefreshDueJWKS(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("jwks refresh pass failed", "err", err)
			}
		}
	}
}

// refreshForUnknownKid fetches, at once, the sets of the organization's JWKS
// partners that jwks_min_interval allows, because a token names a kid the
// organization does not have (a partner rotated its keys). Concurrent
// sign-ins share one fetch per partner and all wait for it. It reports
// whether anything was fetched.
func (s *Service) refreshForUnknownKid(ctx context.Context, orgID string) bool {
	partners, err := s.orgJWKSPartners(ctx, orgID)
	if err != nil || len(partners) == 0 {
		return false
	}
	// The fetch is shared: one caller's cancelled request must not fail it
	// for every sign-in waiting on it (the fetcher's own deadline bounds it).
	shared := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fetched := false
	for _, id := range partners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			did, _, _ := s.jwks.flights.Do(id, func() (any, error) {
				if !s.jwksMayFetch(id) {
					return false, nil
				}
				p, err := s.store.GetPartner(shared, orgID, id)
				if err != nil || p.JWKSURL == "" {
					return false, err
				}
				return true, s.refreshJWKS(shared, p, triggerUnknownKid)
			})
			if did == true {
				mu.Lock()
				fetched = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return fetched
}

// jwksMayFetch applies jwks_min_interval to unknown-kid fetches.
func (s *Service) jwksMayFetch(partnerID string) bool {
	now := s.now()
	s.jwks.mu.Lock()
	defer s.jwks.mu.Unlock()
	st := s.jwks.schedule(partnerID)
	return st.lastFetch.IsZero() || now.Sub(st.lastFetch) >= s.cfg.SSO.JWKSMinInterval
}
