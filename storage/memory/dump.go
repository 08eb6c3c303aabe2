package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"gatehouse/storage"
)

var _ storage.Dumper = (*Store)(nil)

// Export copies every record under the read lock (one consistent snapshot)
// and calls fn after releasing it, so fn may take its time or write to
// another store.
func (s *Store) Export(ctx context.Context, fn func(storage.Record) error) error {
	var recs []storage.Record
	err := s.view(ctx, func() error {
		for _, o := range sortedBy(s.orgs, func(o storage.Org) string { return o.ID }) {
			recs = append(recs, storage.Record{Org: &o})
		}
		for _, t := range sortedBy(s.tenants, func(t storage.Tenant) string { return t.OrgID + "\x00" + t.ID }) {
			t = cloneTenant(t)
			recs = append(recs, storage.Record{Tenant: &t})
		}
		for _, p := range sortedBy(s.partners, func(p storage.Partner) string { return p.ID }) {
			p = clonePartner(p)
			recs = append(recs, storage.Record{Partner: &p})
		}
		for _, k := range sortedBy(s.keys, func(k storage.Key) string { return k.OrgID + "\x00" + k.Kid }) {
			k = cloneKey(k)
			recs = append(recs, storage.Record{Key: &k})
		}
		for _, u := range sortedBy(s.users, func(u storage.User) string { return u.ID }) {
			recs = append(recs, storage.Record{User: &u})
		}
		for _, ss := range sortedBy(s.sessions, func(ss storage.Session) string { return ss.ID }) {
			recs = append(recs, storage.Record{Session: &ss})
		}
		for _, k := range slices.Sorted(maps.Keys(s.replays)) {
			recs = append(recs, storage.Record{Replay: &storage.Replay{Key: k, ExpiresAt: s.replays[k]}})
		}
		for _, t := range sortedBy(s.loginTokens, func(t storage.LoginToken) string { return t.ID }) {
			recs = append(recs, storage.Record{LoginToken: &t})
		}
		for _, t := range sortedBy(s.adminTokens, func(t storage.AdminToken) string { return t.ID }) {
			recs = append(recs, storage.Record{AdminToken: &t})
		}
		if s.signing != nil {
			k := cloneSigningKeys(*s.signing)
			recs = append(recs, storage.Record{SigningKeys: &k})
		}
		for _, e := range s.audit {
			e = cloneEvent(e)
			recs = append(recs, storage.Record{Audit: &e})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Import builds the records into a scratch store and swaps its contents in
// only when every record was accepted, so a failed import leaves s empty.
func (s *Store) Import(ctx context.Context, src func(put func(storage.Record) error) error) error {
	if err := s.view(ctx, func() error {
		if !s.emptyLocked() {
			return storage.ErrNotEmpty
		}
		return nil
	}); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	scratch := New()
	var order storage.ImportOrder
	err := src(func(r storage.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := order.Next(r); err != nil {
			return err
		}
		return scratch.putRecord(r)
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return s.update(ctx, func() error {
		if !s.emptyLocked() {
			return fmt.Errorf("import: %w", storage.ErrNotEmpty)
		}
		s.orgs, s.tenants, s.partners = scratch.orgs, scratch.tenants, scratch.partners
		s.partnerNames, s.consumerKeys, s.keys = scratch.partnerNames, scratch.consumerKeys, scratch.keys
		s.users, s.emails, s.sessions, s.replays = scratch.users, scratch.emails, scratch.sessions, scratch.replays
		s.loginTokens, s.adminTokens, s.adminHashes = scratch.loginTokens, scratch.adminTokens, scratch.adminHashes
		s.audit, s.lastSeq, s.lastHash = scratch.audit, scratch.lastSeq, scratch.lastHash
		s.signing = scratch.signing
		return nil
	})
}

// emptyLocked reports whether the store has never held anything that an
// import could collide with (a pruned audit log still counts: its Seq does).
func (s *Store) emptyLocked() bool {
	return len(s.orgs) == 0 && len(s.tenants) == 0 && len(s.partners) == 0 && len(s.keys) == 0 &&
		len(s.users) == 0 && len(s.sessions) == 0 && len(s.replays) == 0 && len(s.loginTokens) == 0 &&
		len(s.adminTokens) == 0 && len(s.audit) == 0 && s.lastSeq == 0 && s.signing == nil
}

// putRecord stores one imported record in a scratch store no one else sees,
// checking the identities and references the regular writes check.
func (s *Store) putRecord(r storage.Record) error {
	switch {
	case r.Org != nil:
		if _, ok := s.orgs[r.Org.ID]; ok {
			return fmt.Errorf("org %q: %w", r.Org.ID, storage.ErrExists)
		}
		s.orgs[r.Org.ID] = *r.Org
	case r.Tenant != nil:
		t := cloneTenant(*r.Tenant)
		if _, ok := s.orgs[t.OrgID]; !ok {
			return fmt.Errorf("tenant %q: org %q: %w", t.ID, t.OrgID, storage.ErrNotFound)
		}
		if _, ok := s.tenants[orgKey{t.OrgID, t.ID}]; ok {
			return fmt.Errorf("tenant %q: %w", t.ID, storage.ErrExists)
		}
		s.tenants[orgKey{t.OrgID, t.ID}] = t
	case r.Partner != nil:
		p := clonePartner(*r.Partner)
		if _, ok := s.orgs[p.OrgID]; !ok {
			return fmt.Errorf("partner %q: org %q: %w", p.ID, p.OrgID, storage.ErrNotFound)
		}
		if _, ok := s.partners[orgKey{p.OrgID, p.ID}]; ok {
			return fmt.Errorf("partner %q: %w", p.ID, storage.ErrExists)
		}
		if err := s.checkPartnerIndexes(p, storage.Partner{}); err != nil {
			return err
		}
		s.putPartner(p, storage.Partner{})
	case r.Key != nil:
		k := cloneKey(*r.Key)
		if _, ok := s.partners[orgKey{k.OrgID, k.PartnerID}]; !ok {
			return fmt.Errorf("key %q: partner %q: %w", k.Kid, k.PartnerID, storage.ErrNotFound)
		}
		if _, ok := s.keys[orgKey{k.OrgID, k.Kid}]; ok {
			return fmt.Errorf("key %q: %w", k.Kid, storage.ErrExists)
		}
		s.keys[orgKey{k.OrgID, k.Kid}] = k
	case r.User != nil:
		u := *r.User
		if _, ok := s.users[u.ID]; ok {
			return fmt.Errorf("user %q: %w", u.ID, storage.ErrExists)
		}
		if _, ok := s.emails[orgKey{u.OrgID, u.Email}]; ok {
			return fmt.Errorf("user email %q: %w", u.Email, storage.ErrExists)
		}
		s.users[u.ID] = u
		s.emails[orgKey{u.OrgID, u.Email}] = u.ID
	case r.Session != nil:
		if _, ok := s.users[r.Session.UserID]; !ok {
			return fmt.Errorf("session: user %q: %w", r.Session.UserID, storage.ErrNotFound)
		}
		s.sessions[r.Session.ID] = *r.Session
	case r.Replay != nil:
		s.replays[r.Replay.Key] = r.Replay.ExpiresAt
	case r.LoginToken != nil:
		s.loginTokens[r.LoginToken.ID] = *r.LoginToken
	case r.AdminToken != nil:
		t := *r.AdminToken
		if _, ok := s.adminHashes[t.Hash]; ok {
			return fmt.Errorf("admin token hash: %w", storage.ErrExists)
		}
		s.adminTokens[t.ID] = t
		s.adminHashes[t.Hash] = t.ID
	case r.SigningKeys != nil:
		if s.signing != nil {
			return fmt.Errorf("signing keys: %w", storage.ErrExists)
		}
		k := cloneSigningKeys(*r.SigningKeys)
		s.signing = &k
	case r.Audit != nil:
		e := *r.Audit
		details, err := normaliseDetails(e.Details)
		if err != nil {
			return err
		}
		e.Details = details
		s.appendChained(e)
	}
	return nil
}
