package memory

import (
	"bytes"
	"context"
	"fmt"

	"gatehouse/storage"
)

// CreateOrg stores o; ErrExists when the id is taken.
func (s *Store) CreateOrg(ctx context.Context, o storage.Org) error {
	return s.update(ctx, func() error {
		if _, ok := s.orgs[o.ID]; ok {
			return fmt.Errorf("org %q: %w", o.ID, storage.ErrExists)
		}
		s.orgs[o.ID] = o
		return nil
	})
}

// GetOrg returns the organization; ErrNotFound when unknown.
func (s *Store) GetOrg(ctx context.Context, id string) (storage.Org, error) {
	var out storage.Org
	err := s.view(ctx, func() error {
		o, ok := s.orgs[id]
		if !ok {
			return fmt.Errorf("org %q: %w", id, storage.ErrNotFound)
		}
		out = o
		return nil
	})
	return out, err
}

// ListOrgs returns every organization ordered by id.
func (s *Store) ListOrgs(ctx context.Context) ([]storage.Org, error) {
	var out []storage.Org
	err := s.view(ctx, func() error {
		out = sortedBy(s.orgs, func(o storage.Org) string { return o.ID })
		return nil
	})
	return out, err
}

// CreateTenant stores t; ErrNotFound without its org, ErrExists when the id
// is taken within the org.
func (s *Store) CreateTenant(ctx context.Context, t storage.Tenant) error {
	return s.update(ctx, func() error {
		if _, ok := s.orgs[t.OrgID]; !ok {
			return fmt.Errorf("org %q: %w", t.OrgID, storage.ErrNotFound)
		}
		k := orgKey{t.OrgID, t.ID}
		if _, ok := s.tenants[k]; ok {
			return fmt.Errorf("tenant %q: %w", t.ID, storage.ErrExists)
		}
		s.tenants[k] = cloneTenant(t)
		return nil
	})
}

// GetTenant returns the tenant; ErrNotFound when unknown in the org.
func (s *Store) GetTenant(ctx context.Context, orgID, id string) (storage.Tenant, error) {
	var out storage.Tenant
	err := s.view(ctx, func() error {
		t, ok := s.tenants[orgKey{orgID, id}]
		if !ok {
			return fmt.Errorf("tenant %q: %w", id, storage.ErrNotFound)
		}
		out = cloneTenant(t)
		return nil
	})
	return out, err
}

// ListTenants returns the org's tenants ordered by id.
func (s *Store) ListTenants(ctx context.Context, orgID string) ([]storage.Tenant, error) {
	var out []storage.Tenant
	err := s.view(ctx, func() error {
		for _, t := range sortedBy(s.tenants, func(t storage.Tenant) string { return t.ID }) {
			if t.OrgID == orgID {
				out = append(out, cloneTenant(t))
			}
		}
		return nil
	})
	return out, err
}

// UpdateTenant replaces the tenant with fn's result. Identity fields are
// part of the map key, so changing them is refused with ErrConflict rather
// than silently moving the record.
func (s *Store) UpdateTenant(ctx context.Context, orgID, id string, fn func(storage.Tenant) (storage.Tenant, error)) (storage.Tenant, error) {
	var out storage.Tenant
	err := s.update(ctx, func() error {
		k := orgKey{orgID, id}
		cur, ok := s.tenants[k]
		if !ok {
			return fmt.Errorf("tenant %q: %w", id, storage.ErrNotFound)
		}
		next, err := fn(cloneTenant(cur))
		if err != nil {
			return err
		}
		if next.ID != cur.ID || next.OrgID != cur.OrgID {
			return fmt.Errorf("tenant %q: id and org are immutable: %w", id, storage.ErrConflict)
		}
		s.tenants[k] = cloneTenant(next)
		out = cloneTenant(next)
		return nil
	})
	return out, err
}

// DeleteTenant removes the tenant; ErrConflict while a user is bound to it.
func (s *Store) DeleteTenant(ctx context.Context, orgID, id string) error {
	return s.update(ctx, func() error {
		k := orgKey{orgID, id}
		if _, ok := s.tenants[k]; !ok {
			return fmt.Errorf("tenant %q: %w", id, storage.ErrNotFound)
		}
		for _, u := range s.users {
			if u.OrgID == orgID && u.TenantID == id {
				return fmt.Errorf("tenant %q has users: %w", id, storage.ErrConflict)
			}
		}
		delete(s.tenants, k)
		return nil
	})
}

// CreatePartner stores p; ErrNotFound without its org, ErrExists when the id
// or name (within the org) or the consumer key is taken.
func (s *Store) CreatePartner(ctx context.Context, p storage.Partner) error {
	return s.update(ctx, func() error {
		if _, ok := s.orgs[p.OrgID]; !ok {
			return fmt.Errorf("org %q: %w", p.OrgID, storage.ErrNotFound)
		}
		if _, ok := s.partners[orgKey{p.OrgID, p.ID}]; ok {
			return fmt.Errorf("partner %q: %w", p.ID, storage.ErrExists)
		}
		if err := s.checkPartnerIndexes(p, storage.Partner{}); err != nil {
			return err
		}
		s.putPartner(clonePartner(p), storage.Partner{})
		return nil
	})
}

// checkPartnerIndexes refuses p when its name or consumer key belongs to a
// partner other than old (the record p replaces, zero on create).
func (s *Store) checkPartnerIndexes(p, old storage.Partner) error {
	if id, ok := s.partnerNames[orgKey{p.OrgID, p.Name}]; ok && id != old.ID {
		return fmt.Errorf("partner name %q: %w", p.Name, storage.ErrExists)
	}
	if k, ok := s.consumerKeys[p.ConsumerKey]; ok && k != (orgKey{old.OrgID, old.ID}) {
		return fmt.Errorf("consumer key: %w", storage.ErrExists)
	}
	return nil
}

// putPartner stores p and moves its index entries from old (zero on create).
func (s *Store) putPartner(p, old storage.Partner) {
	if old.ID != "" {
		delete(s.partnerNames, orgKey{old.OrgID, old.Name})
		delete(s.consumerKeys, old.ConsumerKey)
	}
	s.partners[orgKey{p.OrgID, p.ID}] = p
	s.partnerNames[orgKey{p.OrgID, p.Name}] = p.ID
	s.consumerKeys[p.ConsumerKey] = orgKey{p.OrgID, p.ID}
}

// GetPartner returns the partner; ErrNotFound when unknown in the org.
func (s *Store) GetPartner(ctx context.Context, orgID, id string) (storage.Partner, error) {
	var out storage.Partner
	err := s.view(ctx, func() error {
		p, ok := s.partners[orgKey{orgID, id}]
		if !ok {
			return fmt.Errorf("partner %q: %w", id, storage.ErrNotFound)
		}
		out = clonePartner(p)
		return nil
	})
	return out, err
}

// GetPartnerByConsumerKey resolves an HMAC consumer key to its partner.
func (s *Store) GetPartnerByConsumerKey(ctx context.Context, consumerKey string) (storage.Partner, error) {
	var out storage.Partner
	err := s.view(ctx, func() error {
		k, ok := s.consumerKeys[consumerKey]
		if !ok {
			return fmt.Errorf("consumer key: %w", storage.ErrNotFound)
		}
		out = clonePartner(s.partners[k])
		return nil
	})
	return out, err
}

// ListPartners returns the org's partners ordered by id.
func (s *Store) ListPartners(ctx context.Context, orgID string) ([]storage.Partner, error) {
	var out []storage.Partner
	err := s.view(ctx, func() error {
		for _, p := range sortedBy(s.partners, func(p storage.Partner) string { return p.ID }) {
			if p.OrgID == orgID {
				out = append(out, clonePartner(p))
			}
		}
		return nil
	})
	return out, err
}

// UpdatePartner replaces the partner with fn's result, keeping the name and
// consumer key indexes unique, and revokes the partner's sessions when fn
// deactivates it.
func (s *Store) UpdatePartner(ctx context.Context, orgID, id string, fn func(storage.Partner) (storage.Partner, error)) (storage.Partner, error) {
	var out storage.Partner
	err := s.update(ctx, func() error {
		cur, ok := s.partners[orgKey{orgID, id}]
		if !ok {
			return fmt.Errorf("partner %q: %w", id, storage.ErrNotFound)
		}
		next, err := fn(clonePartner(cur))
		if err != nil {
			return err
		}
		if next.ID != cur.ID || next.OrgID != cur.OrgID {
			return fmt.Errorf("partner %q: id and org are immutable: %w", id, storage.ErrConflict)
		}
		if err := s.checkPartnerIndexes(next, cur); err != nil {
			return err
		}
		s.putPartner(clonePartner(next), cur)
		if cur.Active && !next.Active {
			s.deletePartnerSessions(orgID, id)
		}
		out = clonePartner(next)
		return nil
	})
	return out, err
}

// DeletePartner removes the partner, its keys and the sessions it signed in.
// Users keep their PartnerID: it records history, not a live reference.
func (s *Store) DeletePartner(ctx context.Context, orgID, id string) error {
	return s.update(ctx, func() error {
		p, ok := s.partners[orgKey{orgID, id}]
		if !ok {
			return fmt.Errorf("partner %q: %w", id, storage.ErrNotFound)
		}
		delete(s.partners, orgKey{orgID, id})
		delete(s.partnerNames, orgKey{orgID, p.Name})
		delete(s.consumerKeys, p.ConsumerKey)
		for k, key := range s.keys {
			if key.OrgID == orgID && key.PartnerID == id {
				delete(s.keys, k)
			}
		}
		s.deletePartnerSessions(orgID, id)
		return nil
	})
}

// deletePartnerSessions deletes the sessions the partner signed in. Partner
// ids are globally unique; matching the org as well is only belt and braces.
func (s *Store) deletePartnerSessions(orgID, partnerID string) {
	for id, ss := range s.sessions {
		if ss.OrgID == orgID && ss.PartnerID == partnerID {
			delete(s.sessions, id)
		}
	}
}

// CreateKey stores k; ErrNotFound when its partner is not in the org,
// ErrExists when the kid is taken within the org.
func (s *Store) CreateKey(ctx context.Context, k storage.Key) error {
	return s.update(ctx, func() error {
		if _, ok := s.partners[orgKey{k.OrgID, k.PartnerID}]; !ok {
			return fmt.Errorf("partner %q: %w", k.PartnerID, storage.ErrNotFound)
		}
		id := orgKey{k.OrgID, k.Kid}
		if _, ok := s.keys[id]; ok {
			return fmt.Errorf("key %q: %w", k.Kid, storage.ErrExists)
		}
		if other, ok := s.keyWithFingerprint(k.OrgID, k.Fingerprint); ok {
			return fmt.Errorf("key %q: the same public key is kid %q: %w", k.Kid, other, storage.ErrExists)
		}
		s.keys[id] = cloneKey(k)
		return nil
	})
}

// keyWithFingerprint finds the org's key holding this public key; the caller
// holds the lock, so check and write are one step. An org holds few keys.
func (s *Store) keyWithFingerprint(orgID, fingerprint string) (string, bool) {
	if fingerprint == "" {
		return "", false
	}
	for id, k := range s.keys {
		if id.org == orgID && k.Fingerprint == fingerprint {
			return k.Kid, true
		}
	}
	return "", false
}

// GetKey returns the key; ErrNotFound when the kid is unknown in the org.
func (s *Store) GetKey(ctx context.Context, orgID, kid string) (storage.Key, error) {
	var out storage.Key
	err := s.view(ctx, func() error {
		k, ok := s.keys[orgKey{orgID, kid}]
		if !ok {
			return fmt.Errorf("key %q: %w", kid, storage.ErrNotFound)
		}
		out = cloneKey(k)
		return nil
	})
	return out, err
}

// ListKeys returns the keys of one partner, or of the whole org when
// partnerID is empty, ordered by kid.
func (s *Store) ListKeys(ctx context.Context, orgID, partnerID string) ([]storage.Key, error) {
	var out []storage.Key
	err := s.view(ctx, func() error {
		for _, k := range sortedBy(s.keys, func(k storage.Key) string { return k.Kid }) {
			if k.OrgID == orgID && (partnerID == "" || k.PartnerID == partnerID) {
				out = append(out, cloneKey(k))
			}
		}
		return nil
	})
	return out, err
}

// DeleteKey removes the key; ErrNotFound when unknown.
func (s *Store) DeleteKey(ctx context.Context, orgID, kid string) error {
	return s.update(ctx, func() error {
		id := orgKey{orgID, kid}
		if _, ok := s.keys[id]; !ok {
			return fmt.Errorf("key %q: %w", kid, storage.ErrNotFound)
		}
		delete(s.keys, id)
		return nil
	})
}

// SyncJWKSKeys replaces the partner's JWKS keys and applies fn, atomically.
func (s *Store) SyncJWKSKeys(ctx context.Context, orgID, partnerID string, keys []storage.Key, fn func(storage.Partner) (storage.Partner, error)) (storage.Partner, []storage.Key, error) {
	var outP storage.Partner
	var outK []storage.Key
	err := s.update(ctx, func() error {
		cur, ok := s.partners[orgKey{orgID, partnerID}]
		if !ok {
			return fmt.Errorf("partner %q: %w", partnerID, storage.ErrNotFound)
		}
		next, err := fn(clonePartner(cur))
		if err != nil {
			return err
		}
		if next.ID != cur.ID || next.OrgID != cur.OrgID {
			return fmt.Errorf("partner %q: id and org are immutable: %w", partnerID, storage.ErrConflict)
		}
		if err := s.checkPartnerIndexes(next, cur); err != nil {
			return err
		}
		old := map[string]storage.Key{}
		taken := map[string]bool{} // fingerprints of keys that are not this partner's JWKS keys
		for id, k := range s.keys {
			if k.OrgID != orgID {
				continue
			}
			if k.PartnerID == partnerID && k.Source == storage.KeySourceJWKS {
				old[k.Kid] = k
				delete(s.keys, id)
			} else {
				taken[k.Fingerprint] = true
			}
		}
		for _, k := range keys {
			k.OrgID, k.PartnerID, k.Source = orgID, partnerID, storage.KeySourceJWKS
			id := orgKey{orgID, k.Kid}
			if _, held := s.keys[id]; held || taken[k.Fingerprint] {
				continue
			}
			if prev, ok := old[k.Kid]; ok && bytes.Equal(prev.DER, k.DER) {
				k.CreatedAt, k.LastUsedAt = prev.CreatedAt, prev.LastUsedAt
			}
			s.keys[id] = cloneKey(k)
			taken[k.Fingerprint] = true
			outK = append(outK, cloneKey(k))
		}
		s.putPartner(clonePartner(next), cur)
		if cur.Active && !next.Active {
			s.deletePartnerSessions(orgID, partnerID)
		}
		outP = clonePartner(next)
		return nil
	})
	if err != nil {
		return storage.Partner{}, nil, err
	}
	return outP, outK, nil
}
