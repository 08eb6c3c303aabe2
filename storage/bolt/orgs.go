package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// CreateOrg stores a new organization; ErrExists when the ID is taken.
func (s *Store) CreateOrg(ctx context.Context, o storage.Org) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktOrgs)
		if b.Get([]byte(o.ID)) != nil {
			return storage.ErrExists
		}
		return putJSON(b, []byte(o.ID), o)
	})
	if err != nil {
		return fmt.Errorf("create org %q: %w", o.ID, err)
	}
	return nil
}

// GetOrg returns one organization.
func (s *Store) GetOrg(ctx context.Context, id string) (storage.Org, error) {
	var o storage.Org
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bktOrgs), []byte(id), &o)
	})
	if err != nil {
		return storage.Org{}, fmt.Errorf("get org %q: %w", id, err)
	}
	return o, nil
}

// ListOrgs returns every organization ordered by ID.
func (s *Store) ListOrgs(ctx context.Context) ([]storage.Org, error) {
	var out []storage.Org
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bktOrgs).ForEach(func(_, v []byte) error {
			var o storage.Org
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("decode org: %w", err)
			}
			out = append(out, o)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	return out, nil
}

// CreateTenant stores a tenant of an existing organization.
func (s *Store) CreateTenant(ctx context.Context, t storage.Tenant) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bktOrgs).Get([]byte(t.OrgID)) == nil {
			return fmt.Errorf("org %q: %w", t.OrgID, storage.ErrNotFound)
		}
		b := tx.Bucket(bktTenants)
		k := join(t.OrgID, t.ID)
		if b.Get(k) != nil {
			return storage.ErrExists
		}
		return putJSON(b, k, t)
	})
	if err != nil {
		return fmt.Errorf("create tenant %q: %w", t.ID, err)
	}
	return nil
}

// GetTenant returns one tenant of an organization.
func (s *Store) GetTenant(ctx context.Context, orgID, id string) (storage.Tenant, error) {
	var t storage.Tenant
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		// Every sign-in reads its tenant: decoded once per stored value.
		key := join(orgID, id)
		raw := tx.Bucket(bktTenants).Get(key)
		if raw == nil {
			return storage.ErrNotFound
		}
		var err error
		t, err = s.tenantCache.decode(key, raw, decodeJSON[storage.Tenant])
		return err
	})
	if err != nil {
		return storage.Tenant{}, fmt.Errorf("get tenant %q: %w", id, err)
	}
	return t, nil
}

// ListTenants returns an organization's tenants ordered by ID.
func (s *Store) ListTenants(ctx context.Context, orgID string) ([]storage.Tenant, error) {
	var out []storage.Tenant
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return scanPrefix(tx.Bucket(bktTenants), prefix(orgID), func(_, v []byte) error {
			var t storage.Tenant
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode tenant: %w", err)
			}
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}

// UpdateTenant applies fn to a tenant. The tenant's identity (ID, OrgID) is
// its key, so fn cannot change it.
func (s *Store) UpdateTenant(ctx context.Context, orgID, id string, fn func(storage.Tenant) (storage.Tenant, error)) (storage.Tenant, error) {
	var out storage.Tenant
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktTenants)
		k := join(orgID, id)
		var old storage.Tenant
		if err := getJSON(b, k, &old); err != nil {
			return err
		}
		nt, err := fn(old)
		if err != nil {
			return err
		}
		nt.ID, nt.OrgID = old.ID, old.OrgID
		out = nt
		return putJSON(b, k, nt)
	})
	if err != nil {
		return storage.Tenant{}, fmt.Errorf("update tenant %q: %w", id, err)
	}
	return out, nil
}

// DeleteTenant removes a tenant; ErrConflict while users are bound to it.
func (s *Store) DeleteTenant(ctx context.Context, orgID, id string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktTenants)
		k := join(orgID, id)
		if b.Get(k) == nil {
			return storage.ErrNotFound
		}
		// org_users values start with the tenant ID, so this needs no decoding.
		want := append([]byte(id), 0)
		err := scanPrefix(tx.Bucket(bktOrgUsers), prefix(orgID), func(_, v []byte) error {
			if bytes.HasPrefix(v, want) {
				return fmt.Errorf("users are bound to it: %w", storage.ErrConflict)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("delete tenant %q: %w", id, err)
	}
	return nil
}
