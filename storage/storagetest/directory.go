package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse/storage"
)

func testOrgs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	orgs, err := s.ListOrgs(ctx)
	mustNil(t, "ListOrgs on an empty store", err)
	if len(orgs) != 0 {
		t.Fatalf("ListOrgs on an empty store = %d orgs, want 0", len(orgs))
	}

	o1 := storage.Org{ID: "org-1", Name: "One", CreatedAt: t0}
	o2 := storage.Org{ID: "org-2", Name: "Two", CreatedAt: t0}
	for _, tc := range []struct {
		name string
		org  storage.Org
		want error
	}{
		{"first", o1, nil},
		{"second", o2, nil},
		{"duplicate id", storage.Org{ID: "org-1", Name: "Impostor", CreatedAt: t0}, storage.ErrExists},
	} {
		t.Run("Create/"+tc.name, func(t *testing.T) {
			wantErr(t, "CreateOrg", s.CreateOrg(ctx, tc.org), tc.want)
		})
	}

	got, err := s.GetOrg(ctx, "org-1")
	mustNil(t, "GetOrg", err)
	equal(t, "GetOrg keeps the first record", got, o1)
	_, err = s.GetOrg(ctx, "org-missing")
	wantErr(t, "GetOrg missing", err, storage.ErrNotFound)

	orgs, err = s.ListOrgs(ctx)
	mustNil(t, "ListOrgs", err)
	equal(t, "ListOrgs", sorted(orgs, orgID), []storage.Org{o1, o2})
}

func testTenants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-1", CreatedAt: t0}))
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-2", CreatedAt: t0}))

	t1 := storage.Tenant{ID: "t-1", OrgID: "org-1", Name: "One", RedirectURL: "https://one.example/", AllowedReturnURLs: []string{"https://one.example/app"}, CreatedAt: t0}
	t2 := storage.Tenant{ID: "t-2", OrgID: "org-1", Name: "Two", AllowedReturnURLs: []string{}, CreatedAt: t0}
	t1other := storage.Tenant{ID: "t-1", OrgID: "org-2", Name: "One elsewhere", CreatedAt: t0}
	for _, tc := range []struct {
		name   string
		tenant storage.Tenant
		want   error
	}{
		{"first", t1, nil},
		{"second", t2, nil},
		{"same id in another org", t1other, nil},
		{"duplicate id within org", storage.Tenant{ID: "t-1", OrgID: "org-1", Name: "Impostor", CreatedAt: t0}, storage.ErrExists},
		{"missing org", storage.Tenant{ID: "t-9", OrgID: "org-missing", CreatedAt: t0}, storage.ErrNotFound},
	} {
		t.Run("Create/"+tc.name, func(t *testing.T) {
			wantErr(t, "CreateTenant", s.CreateTenant(ctx, tc.tenant), tc.want)
		})
	}

	t.Run("Create copies its input", func(t *testing.T) {
		urls := []string{"https://three.example/"}
		mustNil(t, "CreateTenant", s.CreateTenant(ctx, storage.Tenant{ID: "t-3", OrgID: "org-2", AllowedReturnURLs: urls, CreatedAt: t0}))
		urls[0] = "https://mutated.example/"
		got, err := s.GetTenant(ctx, "org-2", "t-3")
		mustNil(t, "GetTenant", err)
		equal(t, "AllowedReturnURLs", got.AllowedReturnURLs, []string{"https://three.example/"})
		mustNil(t, "DeleteTenant", s.DeleteTenant(ctx, "org-2", "t-3"))
	})

	for _, tc := range []struct {
		name, org, id string
		want          storage.Tenant
		wantErr       error
	}{
		{"first", "org-1", "t-1", t1, nil},
		{"empty slice stays empty", "org-1", "t-2", t2, nil},
		{"same id in another org", "org-2", "t-1", t1other, nil},
		{"missing id", "org-1", "t-missing", storage.Tenant{}, storage.ErrNotFound},
		{"id of another org", "org-2", "t-2", storage.Tenant{}, storage.ErrNotFound},
	} {
		t.Run("Get/"+tc.name, func(t *testing.T) {
			got, err := s.GetTenant(ctx, tc.org, tc.id)
			wantErr(t, "GetTenant", err, tc.wantErr)
			if tc.wantErr == nil {
				equal(t, "GetTenant", got, tc.want)
			}
		})
	}

	list, err := s.ListTenants(ctx, "org-1")
	mustNil(t, "ListTenants", err)
	equal(t, "ListTenants org-1", sorted(list, tenantID), []storage.Tenant{t1, t2})
	list, err = s.ListTenants(ctx, "org-2")
	mustNil(t, "ListTenants", err)
	equal(t, "ListTenants org-2", list, []storage.Tenant{t1other})

	t.Run("Get returns a copy", func(t *testing.T) {
		got, err := s.GetTenant(ctx, "org-1", "t-1")
		mustNil(t, "GetTenant", err)
		got.AllowedReturnURLs[0] = "https://mutated.example/"
		again, err := s.GetTenant(ctx, "org-1", "t-1")
		mustNil(t, "GetTenant", err)
		// A literal, not t1: t1 may share its array with what the store holds.
		equal(t, "AllowedReturnURLs after mutating a returned slice", again.AllowedReturnURLs, []string{"https://one.example/app"})
	})

	t.Run("Update", func(t *testing.T) {
		want := t1
		want.Name = "One renamed"
		want.AllowedReturnURLs = []string{"https://one.example/a", "https://one.example/b"}
		calls := 0
		got, err := s.UpdateTenant(ctx, "org-1", "t-1", func(cur storage.Tenant) (storage.Tenant, error) {
			calls++
			equal(t, "closure receives the stored tenant", cur, t1)
			cur.Name = want.Name
			cur.AllowedReturnURLs = want.AllowedReturnURLs
			return cur, nil
		})
		mustNil(t, "UpdateTenant", err)
		if calls == 0 {
			t.Error("UpdateTenant never called the closure")
		}
		equal(t, "UpdateTenant result", got, want)
		stored, err := s.GetTenant(ctx, "org-1", "t-1")
		mustNil(t, "GetTenant", err)
		equal(t, "GetTenant after update", stored, want)
		other, err := s.GetTenant(ctx, "org-2", "t-1")
		mustNil(t, "GetTenant", err)
		equal(t, "same id in another org is untouched", other, t1other)
		t1 = want
	})

	t.Run("Update closure error", func(t *testing.T) {
		_, err := s.UpdateTenant(ctx, "org-1", "t-1", func(cur storage.Tenant) (storage.Tenant, error) {
			// Scribbling on the copy must not leak into the store.
			cur.AllowedReturnURLs[0] = "https://mutated.example/"
			cur.Name = "never stored"
			return cur, errBoom
		})
		wantErr(t, "UpdateTenant", err, errBoom)
		stored, err := s.GetTenant(ctx, "org-1", "t-1")
		mustNil(t, "GetTenant", err)
		equal(t, "tenant after failed update", stored, t1)
	})

	t.Run("Update missing", func(t *testing.T) {
		_, err := s.UpdateTenant(ctx, "org-1", "t-missing", func(cur storage.Tenant) (storage.Tenant, error) {
			t.Error("closure called for a missing tenant")
			return cur, nil
		})
		wantErr(t, "UpdateTenant", err, storage.ErrNotFound)
	})
}

func testDeleteTenant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, o := range []string{"org-1", "org-2"} {
		mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: o, CreatedAt: t0}))
		mustNil(t, "CreateTenant", s.CreateTenant(ctx, storage.Tenant{ID: "t-1", OrgID: o, CreatedAt: t0}))
	}
	mustNil(t, "CreateUser", s.CreateUser(ctx, storage.User{ID: "u-1", Email: "one@example.com", OrgID: "org-1", TenantID: "t-1", CreatedAt: t0}))
	mustNil(t, "CreateUser", s.CreateUser(ctx, storage.User{ID: "u-2", Email: "two@example.com", OrgID: "org-2", TenantID: "t-1", CreatedAt: t0}))

	wantErr(t, "DeleteTenant with a bound user", s.DeleteTenant(ctx, "org-1", "t-1"), storage.ErrConflict)
	_, err := s.GetTenant(ctx, "org-1", "t-1")
	mustNil(t, "GetTenant after refused delete", err)

	mustNil(t, "DeleteUser", s.DeleteUser(ctx, "u-1"))
	// u-2 is bound to a tenant with the same id in another org: it must not count.
	mustNil(t, "DeleteTenant once no user is bound", s.DeleteTenant(ctx, "org-1", "t-1"))
	_, err = s.GetTenant(ctx, "org-1", "t-1")
	wantErr(t, "GetTenant after delete", err, storage.ErrNotFound)
	_, err = s.GetTenant(ctx, "org-2", "t-1")
	mustNil(t, "GetTenant of the other org", err)

	wantErr(t, "DeleteTenant again", s.DeleteTenant(ctx, "org-1", "t-1"), storage.ErrNotFound)
	// The id is free again.
	mustNil(t, "CreateTenant after delete", s.CreateTenant(ctx, storage.Tenant{ID: "t-1", OrgID: "org-1", CreatedAt: t0}))
}

// policyPartner exercises every optional field, in particular both nil and
// empty policy slices, which mean different things.
func policyPartner() storage.Partner {
	return storage.Partner{
		ID:                  "p-1",
		OrgID:               "org-1",
		Name:                "Acme Portal",
		ConsumerKey:         "ck-1",
		Active:              true,
		AllowedEmailDomains: nil,
		AllowedSourceIPs:    []string{},
		MaxUsers:            ptr(5),
		AllowedRoles:        []string{"viewer", "admin"},
		AllowedTenants:      nil,
		AllowedOrigins:      []string{},
		UserProvisioning:    "auto",
		Secret:              &storage.Sealed{Version: 2, Nonce: []byte("nonce"), Ciphertext: []byte("cipher")},
		PreviousSecret:      &storage.Sealed{Version: 1, Nonce: []byte("old-nonce"), Ciphertext: []byte("old")},
		PreviousValidUntil:  t0.Add(24 * time.Hour),
		CreatedAt:           t0,
		UpdatedAt:           t0,
	}
}

func testPartners(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-1", CreatedAt: t0}))
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-2", CreatedAt: t0}))

	p1 := policyPartner()
	p2 := storage.Partner{ID: "p-2", OrgID: "org-1", Name: "Beta IdP", ConsumerKey: "ck-2", CreatedAt: t0, UpdatedAt: t0}
	p3 := storage.Partner{ID: "p-3", OrgID: "org-2", Name: "Acme Portal", ConsumerKey: "ck-3", Active: true, CreatedAt: t0, UpdatedAt: t0}
	for _, tc := range []struct {
		name    string
		partner storage.Partner
		want    error
	}{
		{"first", p1, nil},
		{"second", p2, nil},
		{"same name in another org", p3, nil},
		{"duplicate id", storage.Partner{ID: "p-1", OrgID: "org-1", Name: "Other", ConsumerKey: "ck-9"}, storage.ErrExists},
		{"duplicate name within org", storage.Partner{ID: "p-9", OrgID: "org-1", Name: "Acme Portal", ConsumerKey: "ck-9"}, storage.ErrExists},
		{"duplicate consumer key", storage.Partner{ID: "p-9", OrgID: "org-1", Name: "Other", ConsumerKey: "ck-1"}, storage.ErrExists},
		{"consumer key of another org", storage.Partner{ID: "p-9", OrgID: "org-2", Name: "Other", ConsumerKey: "ck-2"}, storage.ErrExists},
	} {
		t.Run("Create/"+tc.name, func(t *testing.T) {
			wantErr(t, "CreatePartner", s.CreatePartner(ctx, tc.partner), tc.want)
		})
	}

	t.Run("Create copies its input", func(t *testing.T) {
		p1.AllowedRoles[0] = "mutated"
		*p1.MaxUsers = 99
		p1.Secret.Nonce[0] = 'X'
		p1.PreviousSecret.Ciphertext[0] = 'X'
		p1 = policyPartner()
		got, err := s.GetPartner(ctx, "org-1", "p-1")
		mustNil(t, "GetPartner", err)
		equal(t, "GetPartner after mutating the created record", got, p1)
	})

	t.Run("Get", func(t *testing.T) {
		got, err := s.GetPartner(ctx, "org-1", "p-1")
		mustNil(t, "GetPartner", err)
		equal(t, "GetPartner", got, p1)
		if got.AllowedEmailDomains != nil || got.AllowedTenants != nil {
			t.Errorf("nil policy slices came back non-nil: %#v, %#v", got.AllowedEmailDomains, got.AllowedTenants)
		}
		if got.AllowedSourceIPs == nil || len(got.AllowedSourceIPs) != 0 || got.AllowedOrigins == nil || len(got.AllowedOrigins) != 0 {
			t.Errorf("empty policy slices did not stay empty and non-nil: %#v, %#v", got.AllowedSourceIPs, got.AllowedOrigins)
		}
		if got.MaxUsers == nil || *got.MaxUsers != 5 {
			t.Errorf("MaxUsers = %v, want 5", got.MaxUsers)
		}
		got2, err := s.GetPartner(ctx, "org-1", "p-2")
		mustNil(t, "GetPartner", err)
		equal(t, "GetPartner p-2", got2, p2)
		if got2.MaxUsers != nil {
			t.Errorf("MaxUsers = %d, want nil", *got2.MaxUsers)
		}
	})

	t.Run("Get returns a copy", func(t *testing.T) {
		got, err := s.GetPartner(ctx, "org-1", "p-1")
		mustNil(t, "GetPartner", err)
		got.AllowedRoles[0] = "mutated"
		*got.MaxUsers = 99
		got.Secret.Ciphertext[0] = 'X'
		again, err := s.GetPartner(ctx, "org-1", "p-1")
		mustNil(t, "GetPartner", err)
		// A fresh value, not p1, which a backend may alias.
		equal(t, "GetPartner after mutating the returned record", again, policyPartner())
	})

	for _, tc := range []struct {
		name, org, id string
		want          error
	}{
		{"missing", "org-1", "p-missing", storage.ErrNotFound},
		{"id of another org", "org-2", "p-1", storage.ErrNotFound},
	} {
		t.Run("Get/"+tc.name, func(t *testing.T) {
			_, err := s.GetPartner(ctx, tc.org, tc.id)
			wantErr(t, "GetPartner", err, tc.want)
		})
	}

	for _, tc := range []struct {
		ck      string
		want    storage.Partner
		wantErr error
	}{
		{"ck-1", p1, nil},
		{"ck-3", p3, nil},
		{"ck-missing", storage.Partner{}, storage.ErrNotFound},
	} {
		t.Run("GetByConsumerKey/"+tc.ck, func(t *testing.T) {
			got, err := s.GetPartnerByConsumerKey(ctx, tc.ck)
			wantErr(t, "GetPartnerByConsumerKey", err, tc.wantErr)
			if tc.wantErr == nil {
				equal(t, "GetPartnerByConsumerKey", got, tc.want)
			}
		})
	}

	list, err := s.ListPartners(ctx, "org-1")
	mustNil(t, "ListPartners", err)
	equal(t, "ListPartners org-1", sorted(list, partnerID), []storage.Partner{p1, p2})
	list, err = s.ListPartners(ctx, "org-2")
	mustNil(t, "ListPartners", err)
	equal(t, "ListPartners org-2", list, []storage.Partner{p3})
}

func testUpdatePartner(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-1", CreatedAt: t0}))
	p1 := policyPartner()
	p2 := storage.Partner{ID: "p-2", OrgID: "org-1", Name: "Beta IdP", ConsumerKey: "ck-2", Active: true, CreatedAt: t0, UpdatedAt: t0}
	mustNil(t, "CreatePartner", s.CreatePartner(ctx, p1))
	mustNil(t, "CreatePartner", s.CreatePartner(ctx, p2))

	get := func(t *testing.T, id string) storage.Partner {
		t.Helper()
		p, err := s.GetPartner(ctx, "org-1", id)
		mustNil(t, "GetPartner", err)
		return p
	}

	for _, tc := range []struct {
		name    string
		id      string
		change  func(*storage.Partner)
		wantErr error
	}{
		{"rename onto another partner's name", "p-2", func(p *storage.Partner) { p.Name = p1.Name }, storage.ErrExists},
		{"consumer key of another partner", "p-2", func(p *storage.Partner) { p.ConsumerKey = p1.ConsumerKey }, storage.ErrExists},
		{"keep own name", "p-2", func(p *storage.Partner) { p.UserProvisioning = "manual" }, nil},
		{"rename to a free name", "p-2", func(p *storage.Partner) { p.Name = "Beta IdP v2" }, nil},
		{"new consumer key", "p-2", func(p *storage.Partner) { p.ConsumerKey = "ck-2b" }, nil},
		{"empty policy becomes nil", "p-1", func(p *storage.Partner) { p.AllowedSourceIPs = nil }, nil},
		{"nil policy becomes empty", "p-1", func(p *storage.Partner) { p.AllowedEmailDomains = []string{} }, nil},
		{"clear max users", "p-1", func(p *storage.Partner) { p.MaxUsers = nil }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := get(t, tc.id)
			want := before
			tc.change(&want)
			got, err := s.UpdatePartner(ctx, "org-1", tc.id, func(cur storage.Partner) (storage.Partner, error) {
				tc.change(&cur)
				return cur, nil
			})
			wantErr(t, "UpdatePartner", err, tc.wantErr)
			if tc.wantErr != nil {
				equal(t, "partner after refused update", get(t, tc.id), before)
				return
			}
			equal(t, "UpdatePartner result", got, want)
			equal(t, "GetPartner after update", get(t, tc.id), want)
		})
	}

	t.Run("indexes follow the update", func(t *testing.T) {
		_, err := s.GetPartnerByConsumerKey(ctx, "ck-2")
		wantErr(t, "old consumer key", err, storage.ErrNotFound)
		got, err := s.GetPartnerByConsumerKey(ctx, "ck-2b")
		mustNil(t, "new consumer key", err)
		if got.ID != "p-2" {
			t.Errorf("new consumer key resolves to %q, want p-2", got.ID)
		}
		// The old name and consumer key are free for a new partner.
		mustNil(t, "CreatePartner with freed name and key", s.CreatePartner(ctx, storage.Partner{ID: "p-3", OrgID: "org-1", Name: "Beta IdP", ConsumerKey: "ck-2", CreatedAt: t0}))
	})

	t.Run("nil and empty survive", func(t *testing.T) {
		got := get(t, "p-1")
		if got.AllowedSourceIPs != nil {
			t.Errorf("AllowedSourceIPs = %#v, want nil", got.AllowedSourceIPs)
		}
		if got.AllowedEmailDomains == nil || len(got.AllowedEmailDomains) != 0 {
			t.Errorf("AllowedEmailDomains = %#v, want empty non-nil", got.AllowedEmailDomains)
		}
	})

	t.Run("closure error", func(t *testing.T) {
		before := get(t, "p-1")
		_, err := s.UpdatePartner(ctx, "org-1", "p-1", func(cur storage.Partner) (storage.Partner, error) {
			cur.AllowedRoles[0] = "mutated"
			cur.Active = false
			return cur, errBoom
		})
		wantErr(t, "UpdatePartner", err, errBoom)
		equal(t, "partner after failed update", get(t, "p-1"), before)
	})

	t.Run("missing", func(t *testing.T) {
		_, err := s.UpdatePartner(ctx, "org-1", "p-missing", func(cur storage.Partner) (storage.Partner, error) {
			t.Error("closure called for a missing partner")
			return cur, nil
		})
		wantErr(t, "UpdatePartner", err, storage.ErrNotFound)
	})
}

func testPartnerDeactivation(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	signInBy := func(email, sessionID, partner string) {
		w := fx.write(email, sessionID, t0)
		w.Session.PartnerID = partner
		fx.signInWith(t, w)
	}
	signInBy("a1@example.com", "s-a1", "p-a")
	signInBy("a2@example.com", "s-a2", "p-a")
	signInBy("a1@example.com", "s-b1", "p-b") // same user, other partner's session
	setActive := func(t *testing.T, active bool, name string) {
		t.Helper()
		_, err := s.UpdatePartner(ctx, "org-1", "p-a", func(p storage.Partner) (storage.Partner, error) {
			p.Active = active
			p.Name = name
			return p, nil
		})
		mustNil(t, "UpdatePartner", err)
	}

	t.Run("update that keeps Active keeps sessions", func(t *testing.T) {
		setActive(t, true, "Partner A renamed")
		for _, id := range []string{"s-a1", "s-a2", "s-b1"} {
			sessionPresent(t, s, id)
		}
	})
	t.Run("true to false deletes the partner's sessions", func(t *testing.T) {
		setActive(t, false, "Partner A renamed")
		sessionGone(t, s, "s-a1")
		sessionGone(t, s, "s-a2")
		sessionPresent(t, s, "s-b1")
		for _, email := range []string{"a1@example.com", "a2@example.com"} {
			_, err := s.GetUserByEmail(ctx, "org-1", email)
			mustNil(t, "users remain", err)
		}
		if n, err := s.CountActiveSessions(ctx, t0); err != nil || n != 1 {
			t.Errorf("CountActiveSessions = %d, %v; want 1", n, err)
		}
	})
	t.Run("sign-in while inactive is refused", func(t *testing.T) {
		w := fx.write("a3@example.com", "s-a3", t0)
		_, err := s.SignIn(ctx, w)
		wantErr(t, "SignIn by an inactive partner", err, storage.ErrPartnerInactive)
		sessionGone(t, s, "s-a3")
		_, err = s.GetUserByEmail(ctx, "org-1", "a3@example.com")
		wantErr(t, "user of the refused sign-in", err, storage.ErrNotFound)
	})
	t.Run("false to false keeps sessions", func(t *testing.T) {
		setActive(t, false, "Partner A again")
		sessionPresent(t, s, "s-b1")
	})
	t.Run("false to true allows sign-ins again", func(t *testing.T) {
		setActive(t, true, "Partner A again")
		sessionPresent(t, s, "s-b1")
		signInBy("a3@example.com", "s-a3", "p-a")
		sessionPresent(t, s, "s-a3")
	})
}

func testDeletePartner(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	keyA2 := storage.Key{Kid: "kid-a2", OrgID: "org-1", PartnerID: "p-a", Bits: 4096, DER: []byte{1}, CreatedAt: t0}
	keyB := storage.Key{Kid: "kid-b", OrgID: "org-1", PartnerID: "p-b", Bits: 2048, DER: []byte{2}, CreatedAt: t0}
	mustNil(t, "CreateKey", s.CreateKey(ctx, keyA2))
	mustNil(t, "CreateKey", s.CreateKey(ctx, keyB))
	user := fx.signIn(t, "a@example.com", "s-a", t0)
	wb := fx.write("a@example.com", "s-b", t0)
	wb.Session.PartnerID = "p-b"
	fx.signInWith(t, wb)

	mustNil(t, "DeletePartner", s.DeletePartner(ctx, "org-1", "p-a"))

	_, err := s.GetPartner(ctx, "org-1", "p-a")
	wantErr(t, "GetPartner", err, storage.ErrNotFound)
	_, err = s.GetPartnerByConsumerKey(ctx, "ck-a")
	wantErr(t, "GetPartnerByConsumerKey", err, storage.ErrNotFound)
	for _, kid := range []string{"kid-a", "kid-a2"} {
		_, err = s.GetKey(ctx, "org-1", kid)
		wantErr(t, "GetKey "+kid, err, storage.ErrNotFound)
	}
	keys, err := s.ListKeys(ctx, "org-1", "p-a")
	mustNil(t, "ListKeys", err)
	if len(keys) != 0 {
		t.Errorf("ListKeys of the deleted partner = %d keys, want 0", len(keys))
	}
	keys, err = s.ListKeys(ctx, "org-1", "")
	mustNil(t, "ListKeys", err)
	equal(t, "ListKeys of the org", keys, []storage.Key{keyB})

	sessionGone(t, s, "s-a")
	sessionPresent(t, s, "s-b")
	got, err := s.GetUser(ctx, user.ID)
	mustNil(t, "GetUser: users remain", err)
	equal(t, "user after partner deletion", got, user)
	partners, err := s.ListPartners(ctx, "org-1")
	mustNil(t, "ListPartners", err)
	equal(t, "ListPartners", partners, []storage.Partner{fx.partnerB})

	wantErr(t, "DeletePartner again", s.DeletePartner(ctx, "org-1", "p-a"), storage.ErrNotFound)
	wantErr(t, "DeletePartner of another org", s.DeletePartner(ctx, "org-2", "p-b"), storage.ErrNotFound)
	// Name, consumer key and kid are free again.
	mustNil(t, "CreatePartner with the old name and key", s.CreatePartner(ctx, fx.partnerA))
	mustNil(t, "CreateKey with the old kid", s.CreateKey(ctx, fx.key))
}

func testKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, o := range []string{"org-1", "org-2"} {
		mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: o, CreatedAt: t0}))
	}
	for _, p := range []storage.Partner{
		{ID: "p-a", OrgID: "org-1", Name: "A", ConsumerKey: "ck-a"},
		{ID: "p-b", OrgID: "org-1", Name: "B", ConsumerKey: "ck-b"},
		{ID: "p-c", OrgID: "org-2", Name: "C", ConsumerKey: "ck-c"},
	} {
		mustNil(t, "CreatePartner", s.CreatePartner(ctx, p))
	}
	k1 := storage.Key{Kid: "kid-1", OrgID: "org-1", PartnerID: "p-a", Fingerprint: "fp1", Bits: 2048, Label: "one", DER: []byte{0x30, 1, 2, 3}, CreatedAt: t0}
	k2 := storage.Key{Kid: "kid-2", OrgID: "org-1", PartnerID: "p-a", Fingerprint: "fp2", Bits: 3072, DER: []byte{0x30, 4}, CreatedAt: t0}
	k3 := storage.Key{Kid: "kid-3", OrgID: "org-1", PartnerID: "p-b", Fingerprint: "fp3", Bits: 4096, DER: []byte{0x30, 5}, CreatedAt: t0}
	k1other := storage.Key{Kid: "kid-1", OrgID: "org-2", PartnerID: "p-c", Fingerprint: "fp1c", Bits: 2048, DER: []byte{0x30, 6}, CreatedAt: t0}
	for _, tc := range []struct {
		name string
		key  storage.Key
		want error
	}{
		{"first", k1, nil},
		{"second of the same partner", k2, nil},
		{"other partner", k3, nil},
		{"same kid in another org", k1other, nil},
		{"duplicate kid within org", storage.Key{Kid: "kid-1", OrgID: "org-1", PartnerID: "p-b", DER: []byte{9}}, storage.ErrExists},
		{"same public key, new kid, same partner", storage.Key{Kid: "kid-1b", OrgID: "org-1", PartnerID: "p-a", Fingerprint: "fp1", DER: []byte{0x30, 1, 2, 3}}, storage.ErrExists},
		{"same public key, new kid, other partner", storage.Key{Kid: "kid-1c", OrgID: "org-1", PartnerID: "p-b", Fingerprint: "fp1", DER: []byte{0x30, 1, 2, 3}}, storage.ErrExists},
		{"same public key in another org", storage.Key{Kid: "kid-1d", OrgID: "org-2", PartnerID: "p-c", Fingerprint: "fp1", DER: []byte{0x30, 1, 2, 3}}, nil},
		{"missing partner", storage.Key{Kid: "kid-9", OrgID: "org-1", PartnerID: "p-missing", DER: []byte{9}}, storage.ErrNotFound},
		{"partner of another org", storage.Key{Kid: "kid-9", OrgID: "org-1", PartnerID: "p-c", DER: []byte{9}}, storage.ErrNotFound},
	} {
		t.Run("Create/"+tc.name, func(t *testing.T) {
			wantErr(t, "CreateKey", s.CreateKey(ctx, tc.key), tc.want)
		})
	}

	for _, tc := range []struct {
		name, org, kid string
		want           storage.Key
		wantErr        error
	}{
		{"first", "org-1", "kid-1", k1, nil},
		{"same kid in another org", "org-2", "kid-1", k1other, nil},
		{"missing", "org-1", "kid-missing", storage.Key{}, storage.ErrNotFound},
		{"kid of another org", "org-2", "kid-2", storage.Key{}, storage.ErrNotFound},
	} {
		t.Run("Get/"+tc.name, func(t *testing.T) {
			got, err := s.GetKey(ctx, tc.org, tc.kid)
			wantErr(t, "GetKey", err, tc.wantErr)
			if tc.wantErr == nil {
				equal(t, "GetKey", got, tc.want)
			}
		})
	}

	t.Run("Get returns a copy", func(t *testing.T) {
		got, err := s.GetKey(ctx, "org-1", "kid-1")
		mustNil(t, "GetKey", err)
		got.DER[0] = 0xFF
		k1.DER[1] = 0xFF // the create input must not be aliased either
		again, err := s.GetKey(ctx, "org-1", "kid-1")
		mustNil(t, "GetKey", err)
		equal(t, "DER after mutating input and output", again.DER, []byte{0x30, 1, 2, 3})
		k1.DER = []byte{0x30, 1, 2, 3}
	})

	for _, tc := range []struct {
		name, org, partner string
		want               []storage.Key
	}{
		{"by partner", "org-1", "p-a", []storage.Key{k1, k2}},
		{"other partner", "org-1", "p-b", []storage.Key{k3}},
		{"whole org", "org-1", "", []storage.Key{k1, k2, k3}},
		{"other org", "org-2", "", []storage.Key{k1other, {Kid: "kid-1d", OrgID: "org-2", PartnerID: "p-c", Fingerprint: "fp1", DER: []byte{0x30, 1, 2, 3}}}},
		{"partner without keys", "org-2", "p-missing", []storage.Key{}},
	} {
		t.Run("List/"+tc.name, func(t *testing.T) {
			got, err := s.ListKeys(ctx, tc.org, tc.partner)
			mustNil(t, "ListKeys", err)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			equal(t, "ListKeys", sorted(got, keyID), tc.want)
		})
	}

	t.Run("Delete", func(t *testing.T) {
		mustNil(t, "DeleteKey", s.DeleteKey(ctx, "org-1", "kid-1"))
		_, err := s.GetKey(ctx, "org-1", "kid-1")
		wantErr(t, "GetKey after delete", err, storage.ErrNotFound)
		got, err := s.GetKey(ctx, "org-2", "kid-1")
		mustNil(t, "GetKey same kid in another org", err)
		equal(t, "GetKey same kid in another org", got, k1other)
		keys, err := s.ListKeys(ctx, "org-1", "p-a")
		mustNil(t, "ListKeys", err)
		equal(t, "ListKeys after delete", keys, []storage.Key{k2})
		wantErr(t, "DeleteKey again", s.DeleteKey(ctx, "org-1", "kid-1"), storage.ErrNotFound)
		freed := k1
		freed.Kid = "kid-1-again"
		mustNil(t, "CreateKey with the freed public key", s.CreateKey(ctx, freed))
		mustNil(t, "DeleteKey", s.DeleteKey(ctx, "org-1", "kid-1-again"))
		mustNil(t, "CreateKey with the freed kid", s.CreateKey(ctx, k1))
	})

	t.Run("Deleting a partner frees its public keys", func(t *testing.T) {
		mustNil(t, "CreatePartner", s.CreatePartner(ctx, storage.Partner{ID: "p-d", OrgID: "org-1", Name: "D", ConsumerKey: "ck-d"}))
		kd := storage.Key{Kid: "kid-d", OrgID: "org-1", PartnerID: "p-d", Fingerprint: "fp-d", DER: []byte{0x30, 7}, CreatedAt: t0}
		mustNil(t, "CreateKey", s.CreateKey(ctx, kd))
		mustNil(t, "DeletePartner", s.DeletePartner(ctx, "org-1", "p-d"))
		kd.Kid, kd.PartnerID = "kid-d2", "p-b"
		mustNil(t, "CreateKey with the deleted partner's public key", s.CreateKey(ctx, kd))
	})

	t.Run("JWKS keys hold their public key too", func(t *testing.T) {
		same := func(p storage.Partner) (storage.Partner, error) { return p, nil }
		jk := storage.Key{Kid: "jwks-1", Fingerprint: "fp-jwks", DER: []byte{0x30, 9}, CreatedAt: t0}
		_, stored, err := s.SyncJWKSKeys(ctx, "org-1", "p-b", []storage.Key{jk}, same)
		mustNil(t, "SyncJWKSKeys", err)
		if len(stored) != 1 {
			t.Fatalf("SyncJWKSKeys stored %d keys, want 1", len(stored))
		}
		up := storage.Key{Kid: "upload-of-jwks-1", OrgID: "org-1", PartnerID: "p-a", Fingerprint: "fp-jwks", DER: []byte{0x30, 9}, CreatedAt: t0}
		wantErr(t, "CreateKey of a JWKS key's public key", s.CreateKey(ctx, up), storage.ErrExists)
		_, _, err = s.SyncJWKSKeys(ctx, "org-1", "p-b", nil, same)
		mustNil(t, "SyncJWKSKeys (empty set)", err)
		mustNil(t, "CreateKey after the JWKS dropped the key", s.CreateKey(ctx, up))
	})

	t.Run("Concurrent creates of one public key: one wins", func(t *testing.T) {
		errs := make(chan error, 8)
		for i := range 8 {
			go func() {
				errs <- s.CreateKey(ctx, storage.Key{Kid: fmt.Sprintf("race-%d", i), OrgID: "org-1", PartnerID: []string{"p-a", "p-b"}[i%2],
					Fingerprint: "fp-race", DER: []byte{0x30, 8}, CreatedAt: t0})
			}()
		}
		won := 0
		for range 8 {
			err := <-errs
			if err == nil {
				won++
			} else if !errors.Is(err, storage.ErrExists) {
				t.Errorf("CreateKey: %v", err)
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent creates of one public key succeeded, want 1", won)
		}
	})
}

// testUserNeedsTenant: a user is written only bound to a tenant of its
// organization, checked in the write's own transaction (ErrNoTenant,
// nothing written), so a sign-in racing the deletion of its tenant either
// commits first (and the deletion is a conflict) or is refused: never a
// user bound to a tenant that is gone.
func testUserNeedsTenant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	inTenant := func(w storage.SignInWrite, tenant string) storage.SignInWrite {
		provision := w.Provision
		w.Provision = func(cur *storage.User, count func(string) int) (storage.User, error) {
			u, err := provision(cur, count)
			u.TenantID = tenant
			return u, err
		}
		return w
	}
	refusedWithoutTrace(t, s, inTenant(fx.fullWrite("gone@example.com", "s-gone", "jti:gone", t0), "t-gone"), storage.ErrNoTenant, len(auditEvents(t, s)))
	u := fx.user("created@example.com", "", t0)
	u.TenantID = "t-gone"
	wantErr(t, "CreateUser in an unknown tenant", s.CreateUser(ctx, u), storage.ErrNoTenant)
	u.ID, u.OrgID, u.TenantID = "u:other-org", "org-unknown", fx.tenants[0].ID
	wantErr(t, "CreateUser in another organization's tenant", s.CreateUser(ctx, u), storage.ErrNoTenant)

	for i := range 20 {
		tenant := fmt.Sprintf("t-race-%d", i)
		mustNil(t, "CreateTenant", s.CreateTenant(ctx, storage.Tenant{ID: tenant, OrgID: fx.org.ID, Name: tenant, CreatedAt: t0}))
		email := fmt.Sprintf("race%d@example.com", i)
		w := inTenant(fx.write(email, "s-"+tenant, t0), tenant)
		var signInErr, deleteErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, signInErr = s.SignIn(ctx, w) }()
		go func() { defer wg.Done(); deleteErr = s.DeleteTenant(ctx, fx.org.ID, tenant) }()
		wg.Wait()
		switch {
		case signInErr == nil && deleteErr == nil:
			t.Fatalf("round %d: the sign-in and the deletion of its tenant both succeeded: a user bound to nothing", i)
		case signInErr == nil:
			wantErr(t, "DeleteTenant after the sign-in", deleteErr, storage.ErrConflict)
		case deleteErr == nil:
			wantErr(t, "SignIn after the deletion", signInErr, storage.ErrNoTenant)
			_, err := s.GetUserByEmail(ctx, fx.org.ID, email)
			wantErr(t, "user of the refused sign-in", err, storage.ErrNotFound)
		default:
			t.Fatalf("round %d: both failed: sign-in %v, delete %v", i, signInErr, deleteErr)
		}
	}
}
