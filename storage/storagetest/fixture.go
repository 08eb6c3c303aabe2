package storagetest

import (
	"testing"
	"time"

	"gatehouse/storage"
)

// fixture is the organization most tests need before they can sign anyone in:
// two tenants, two active partners and one key of partner A.
type fixture struct {
	s        storage.Store
	org      storage.Org
	tenants  []storage.Tenant
	partnerA storage.Partner
	partnerB storage.Partner
	key      storage.Key
}

func newFixture(t *testing.T, s storage.Store) *fixture {
	t.Helper()
	ctx := t.Context()
	fx := &fixture{
		s:   s,
		org: storage.Org{ID: "org-1", Name: "Org One", CreatedAt: t0},
		tenants: []storage.Tenant{
			{ID: "t-1", OrgID: "org-1", Name: "Tenant One", RedirectURL: "https://one.example/", CreatedAt: t0},
			{ID: "t-2", OrgID: "org-1", Name: "Tenant Two", RedirectURL: "https://two.example/", CreatedAt: t0},
		},
		partnerA: storage.Partner{ID: "p-a", OrgID: "org-1", Name: "Partner A", ConsumerKey: "ck-a", Active: true, UserProvisioning: "auto", CreatedAt: t0, UpdatedAt: t0},
		partnerB: storage.Partner{ID: "p-b", OrgID: "org-1", Name: "Partner B", ConsumerKey: "ck-b", Active: true, UserProvisioning: "auto", CreatedAt: t0, UpdatedAt: t0},
		key:      storage.Key{Kid: "kid-a", OrgID: "org-1", PartnerID: "p-a", Fingerprint: "fp-a", Bits: 2048, Label: "a", DER: []byte{0x30, 0x82, 0x01}, CreatedAt: t0},
	}
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, fx.org))
	for _, tn := range fx.tenants {
		mustNil(t, "CreateTenant "+tn.ID, s.CreateTenant(ctx, tn))
	}
	mustNil(t, "CreatePartner A", s.CreatePartner(ctx, fx.partnerA))
	mustNil(t, "CreatePartner B", s.CreatePartner(ctx, fx.partnerB))
	mustNil(t, "CreateKey", s.CreateKey(ctx, fx.key))
	return fx
}

// user is the record the default provisioning creates for email.
func (fx *fixture) user(email, partnerID string, at time.Time) storage.User {
	return storage.User{
		ID:           "u:" + email,
		Email:        email,
		Name:         "Name of " + email,
		OrgID:        fx.org.ID,
		TenantID:     fx.tenants[0].ID,
		Role:         "viewer",
		PartnerSSO:   true,
		PartnerID:    partnerID,
		CreatedAt:    at,
		LastSignInAt: at,
	}
}

// write is a minimal sign-in by partner A: it creates the user when missing
// and otherwise only moves LastSignInAt, without replay, key touch or audit.
func (fx *fixture) write(email, sessionID string, at time.Time) storage.SignInWrite {
	return storage.SignInWrite{
		Now:   at,
		OrgID: fx.org.ID,
		Email: email,
		Provision: func(existing *storage.User, _ func(string) int) (storage.User, error) {
			if existing != nil {
				u := *existing
				u.LastSignInAt = at
				return u, nil
			}
			return fx.user(email, fx.partnerA.ID, at), nil
		},
		Session: storage.Session{
			ID:        sessionID,
			OrgID:     fx.org.ID,
			PartnerID: fx.partnerA.ID,
			CreatedAt: at,
			ExpiresAt: at.Add(8 * time.Hour),
		},
	}
}

func (fx *fixture) signIn(t *testing.T, email, sessionID string, at time.Time) storage.User {
	t.Helper()
	return fx.signInWith(t, fx.write(email, sessionID, at))
}

func (fx *fixture) signInWith(t *testing.T, w storage.SignInWrite) storage.User {
	t.Helper()
	u, err := fx.s.SignIn(t.Context(), w)
	mustNil(t, "SignIn "+w.Email, err)
	return u
}

// auditEvents returns every audit event in Seq order.
func auditEvents(t *testing.T, s storage.Store) []storage.AuditEvent {
	t.Helper()
	var out []storage.AuditEvent
	mustNil(t, "WalkAudit", s.WalkAudit(t.Context(), func(e storage.AuditEvent) error {
		out = append(out, e)
		return nil
	}))
	return out
}

// sessionGone asserts GetSession and GetSessionUser answer ErrNotFound:
// forward-auth reads through the latter, so a revocation must reach both.
func sessionGone(t *testing.T, s storage.Store, id string) {
	t.Helper()
	_, err := s.GetSession(t.Context(), id)
	wantErr(t, "GetSession "+id, err, storage.ErrNotFound)
	sess, _, err := s.GetSessionUser(t.Context(), id)
	wantErr(t, "GetSessionUser "+id, err, storage.ErrNotFound)
	if sess.ID != "" {
		t.Errorf("GetSessionUser %s: a session (%+v) with ErrNotFound", id, sess)
	}
}

// sessionPresent asserts the session exists and returns it.
func sessionPresent(t *testing.T, s storage.Store, id string) storage.Session {
	t.Helper()
	got, err := s.GetSession(t.Context(), id)
	if err != nil {
		t.Errorf("GetSession %s: %v", id, err)
	}
	return got
}
