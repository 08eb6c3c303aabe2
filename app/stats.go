package app

import (
	"context"
	"time"
)

// Stats are gauges read from the store (for metrics and overviews).
type Stats struct {
	ActiveSessions int
	Tenants        []TenantStats
	Keys           []KeyStats
}

// TenantStats counts one tenant's users.
type TenantStats struct {
	OrgID, TenantID string
	Users           int
}

// KeyStats is when a partner key last verified a token.
type KeyStats struct {
	OrgID, Kid, PartnerID string
	LastUsedAt            time.Time
}

// Stats reads the store's gauges. It costs a count per tenant, so callers
// cache it (web's metrics collector refreshes at most every 15 s).
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	n, err := s.store.CountActiveSessions(ctx, s.now())
	if err != nil {
		return st, err
	}
	st.ActiveSessions = n
	orgs, err := s.store.ListOrgs(ctx)
	if err != nil {
		return st, err
	}
	for _, o := range orgs {
		tenants, err := s.store.ListTenants(ctx, o.ID)
		if err != nil {
			return st, err
		}
		for _, t := range tenants {
			n, err := s.store.CountUsers(ctx, o.ID, t.ID)
			if err != nil {
				return st, err
			}
			st.Tenants = append(st.Tenants, TenantStats{OrgID: o.ID, TenantID: t.ID, Users: n})
		}
		keys, err := s.store.ListKeys(ctx, o.ID, "")
		if err != nil {
			return st, err
		}
		for _, k := range keys {
			st.Keys = append(st.Keys, KeyStats{OrgID: o.ID, Kid: k.Kid, PartnerID: k.PartnerID, LastUsedAt: k.LastUsedAt})
		}
	}
	return st, nil
}
