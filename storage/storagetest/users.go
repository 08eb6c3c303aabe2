package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"gatehouse/storage"
)

func testUsers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	newFixture(t, s)
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-2", CreatedAt: t0}))
	mustNil(t, "CreateTenant", s.CreateTenant(ctx, storage.Tenant{ID: "t-1", OrgID: "org-2", CreatedAt: t0}))

	u1 := storage.User{ID: "u-1", Email: "ann@example.com", Name: "Ann", OrgID: "org-1", TenantID: "t-1", Role: "admin", PartnerSSO: true, PartnerID: "p-a", CreatedAt: t0, LastSignInAt: t0.Add(1)}
	u2 := storage.User{ID: "u-2", Email: "ben@example.com", Name: "Ben", OrgID: "org-1", TenantID: "t-2", Role: "viewer", CreatedAt: t0}
	u3 := storage.User{ID: "u-3", Email: "cid@example.com", Name: "Cid", OrgID: "org-2", TenantID: "t-1", Role: "viewer", CreatedAt: t0}
	u4 := storage.User{ID: "u-4", Email: "ann@example.com", Name: "Other Ann", OrgID: "org-2", TenantID: "t-1", Role: "viewer", CreatedAt: t0}
	for _, tc := range []struct {
		name string
		user storage.User
		want error
	}{
		{"first", u1, nil},
		{"second", u2, nil},
		{"other org", u3, nil},
		{"duplicate id", storage.User{ID: "u-1", Email: "other@example.com", OrgID: "org-1", TenantID: "t-1"}, storage.ErrExists},
		{"duplicate email in the org", storage.User{ID: "u-9", Email: "ann@example.com", OrgID: "org-1", TenantID: "t-2"}, storage.ErrExists},
		{"duplicate id in another org", storage.User{ID: "u-1", Email: "ann@example.com", OrgID: "org-2", TenantID: "t-1"}, storage.ErrExists},
		// The same address in another organization is another user (SPEC §1).
		{"same email in another org", storage.User{ID: "u-4", Email: "ann@example.com", Name: "Other Ann", OrgID: "org-2", TenantID: "t-1", Role: "viewer", CreatedAt: t0}, nil},
	} {
		t.Run("Create/"+tc.name, func(t *testing.T) {
			wantErr(t, "CreateUser", s.CreateUser(ctx, tc.user), tc.want)
		})
	}

	for _, tc := range []struct {
		name    string
		get     func() (storage.User, error)
		want    storage.User
		wantErr error
	}{
		{"by id", func() (storage.User, error) { return s.GetUser(ctx, "u-1") }, u1, nil},
		{"by email", func() (storage.User, error) { return s.GetUserByEmail(ctx, "org-1", "ann@example.com") }, u1, nil},
		{"by email other org", func() (storage.User, error) { return s.GetUserByEmail(ctx, "org-2", "cid@example.com") }, u3, nil},
		{"same email, its own org's user", func() (storage.User, error) { return s.GetUserByEmail(ctx, "org-2", "ann@example.com") }, u4, nil},
		{"email only in another org", func() (storage.User, error) { return s.GetUserByEmail(ctx, "org-1", "cid@example.com") }, storage.User{}, storage.ErrNotFound},
		{"email in an unknown org", func() (storage.User, error) { return s.GetUserByEmail(ctx, "org-missing", "ann@example.com") }, storage.User{}, storage.ErrNotFound},
		{"missing id", func() (storage.User, error) { return s.GetUser(ctx, "u-missing") }, storage.User{}, storage.ErrNotFound},
		{"missing email", func() (storage.User, error) { return s.GetUserByEmail(ctx, "org-1", "nobody@example.com") }, storage.User{}, storage.ErrNotFound},
	} {
		t.Run("Get/"+tc.name, func(t *testing.T) {
			got, err := tc.get()
			wantErr(t, "get", err, tc.wantErr)
			if tc.wantErr == nil {
				equal(t, "user", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		org, tenant string
		want        int
	}{
		{"org-1", "", 2},
		{"org-1", "t-1", 1},
		{"org-1", "t-2", 1},
		{"org-2", "", 2},
		{"org-2", "t-2", 0},
		{"org-missing", "", 0},
	} {
		t.Run(fmt.Sprintf("Count/%s/%s", tc.org, tc.tenant), func(t *testing.T) {
			n, err := s.CountUsers(ctx, tc.org, tc.tenant)
			mustNil(t, "CountUsers", err)
			if n != tc.want {
				t.Errorf("CountUsers(%q, %q) = %d, want %d", tc.org, tc.tenant, n, tc.want)
			}
		})
	}
}

func testDeleteUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	gone := fx.signIn(t, "gone@example.com", "s-1", t0)
	fx.signIn(t, "gone@example.com", "s-2", t0.Add(1))
	kept := fx.signIn(t, "kept@example.com", "s-3", t0)

	mustNil(t, "DeleteUser", s.DeleteUser(ctx, gone.ID))
	_, err := s.GetUser(ctx, gone.ID)
	wantErr(t, "GetUser", err, storage.ErrNotFound)
	_, err = s.GetUserByEmail(ctx, "org-1", gone.Email)
	wantErr(t, "GetUserByEmail", err, storage.ErrNotFound)
	sessionGone(t, s, "s-1")
	sessionGone(t, s, "s-2")
	if got := sessionPresent(t, s, "s-3"); got.UserID != kept.ID {
		t.Errorf("session s-3 belongs to %q, want %q", got.UserID, kept.ID)
	}
	if n, err := s.CountSessions(ctx, gone.ID, t0); err != nil || n != 0 {
		t.Errorf("CountSessions of the deleted user = %d, %v; want 0", n, err)
	}
	if n, err := s.CountUsers(ctx, "org-1", ""); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}

	wantErr(t, "DeleteUser again", s.DeleteUser(ctx, gone.ID), storage.ErrNotFound)
	// The email index entry went with the user.
	mustNil(t, "CreateUser with the freed email", s.CreateUser(ctx, gone))
}

func testListUsers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	newFixture(t, s)
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-2", CreatedAt: t0}))
	mustNil(t, "CreateTenant", s.CreateTenant(ctx, storage.Tenant{ID: "t-1", OrgID: "org-2", CreatedAt: t0}))
	// Inserted out of email order so the order must come from the store.
	for _, u := range []storage.User{
		{ID: "u-4", Email: "dave@example.com", Name: "Dave", OrgID: "org-1", TenantID: "t-1"},
		{ID: "u-2", Email: "bob@example.com", Name: "Bob Stone", OrgID: "org-1", TenantID: "t-2"},
		{ID: "u-5", Email: "alina@example.com", Name: "Alina", OrgID: "org-2", TenantID: "t-1"},
		{ID: "u-1", Email: "alice@example.com", Name: "Alice Archer", OrgID: "org-1", TenantID: "t-1"},
		{ID: "u-3", Email: "carol@acme.test", Name: "Carol Alison", OrgID: "org-1", TenantID: "t-1"},
	} {
		u.CreatedAt = t0
		mustNil(t, "CreateUser", s.CreateUser(ctx, u))
	}

	for _, tc := range []struct {
		name string
		q    storage.UserQuery
		want []string
	}{
		{"whole org by email", storage.UserQuery{OrgID: "org-1"}, []string{"alice@example.com", "bob@example.com", "carol@acme.test", "dave@example.com"}},
		{"other org", storage.UserQuery{OrgID: "org-2"}, []string{"alina@example.com"}},
		{"q matches email or name, any case", storage.UserQuery{OrgID: "org-1", Q: "ALI"}, []string{"alice@example.com", "carol@acme.test"}},
		{"q matches name only", storage.UserQuery{OrgID: "org-1", Q: "stone"}, []string{"bob@example.com"}},
		{"q matches email domain", storage.UserQuery{OrgID: "org-1", Q: "Acme"}, []string{"carol@acme.test"}},
		{"q matches nothing", storage.UserQuery{OrgID: "org-1", Q: "zzz"}, nil},
		{"tenant", storage.UserQuery{OrgID: "org-1", TenantID: "t-1"}, []string{"alice@example.com", "carol@acme.test", "dave@example.com"}},
		{"tenant and q", storage.UserQuery{OrgID: "org-1", TenantID: "t-1", Q: "ali"}, []string{"alice@example.com", "carol@acme.test"}},
		{"tenant id of another org", storage.UserQuery{OrgID: "org-2", TenantID: "t-2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := listAllUsers(t, s, tc.q)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ListUsers(%+v) = %q, want %q", tc.q, got, tc.want)
			}
		})
	}
}

func testUserPaging(t *testing.T, s storage.Store) {
	ctx := t.Context()
	newFixture(t, s)
	const n = 120
	var all, tenant2, q1 []string
	for i := range n {
		email := fmt.Sprintf("user-%03d@example.com", i)
		all = append(all, email)
		if i%2 == 1 {
			tenant2 = append(tenant2, email)
		}
		if strings.Contains(email, "-1") {
			q1 = append(q1, email)
		}
	}
	// 7 is coprime with 120, so this visits every index once, out of order.
	for i := range n {
		j := i * 7 % n
		u := storage.User{ID: fmt.Sprintf("u-%03d", j), Email: all[j], Name: fmt.Sprintf("Person %d", j), OrgID: "org-1", TenantID: []string{"t-1", "t-2"}[j%2], CreatedAt: t0}
		mustNil(t, "CreateUser", s.CreateUser(ctx, u))
	}

	for _, tc := range []struct {
		name string
		q    storage.UserQuery
		want []string
	}{
		{"all by 25", storage.UserQuery{OrgID: "org-1", Limit: 25}, all},
		{"all by 40 (exact fit)", storage.UserQuery{OrgID: "org-1", Limit: 40}, all},
		{"all in one page", storage.UserQuery{OrgID: "org-1", Limit: 500}, all},
		{"tenant by 7", storage.UserQuery{OrgID: "org-1", TenantID: "t-2", Limit: 7}, tenant2},
		{"q by 3", storage.UserQuery{OrgID: "org-1", Q: "-1", Limit: 3}, q1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pageUsers(t, s, tc.q, len(tc.want))
			if !slices.Equal(got, tc.want) {
				t.Errorf("paged emails (%d) differ from the expected %d:\n got  %q\n want %q", len(got), len(tc.want), got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		tenant string
		want   int
	}{{"", n}, {"t-1", n / 2}, {"t-2", n / 2}} {
		c, err := s.CountUsers(ctx, "org-1", tc.tenant)
		mustNil(t, "CountUsers", err)
		if c != tc.want {
			t.Errorf("CountUsers(org-1, %q) = %d, want %d", tc.tenant, c, tc.want)
		}
	}
}

// listAllUsers runs a query with a limit large enough for one page.
func listAllUsers(t *testing.T, s storage.Store, q storage.UserQuery) []string {
	t.Helper()
	q.Limit = 500
	users, next, err := s.ListUsers(t.Context(), q)
	mustNil(t, "ListUsers", err)
	if next != "" {
		t.Errorf("ListUsers returned cursor %q for a page that holds everything", next)
	}
	return emails(users)
}

// pageUsers follows cursors to the end. A short page must be the last one; a
// full last page may or may not carry a cursor (followed by an empty page),
// since the contract only calls the cursor opaque.
func pageUsers(t *testing.T, s storage.Store, q storage.UserQuery, total int) []string {
	t.Helper()
	maxPages := total/q.Limit + 1
	var out []string
	for page := 1; ; page++ {
		if page > maxPages {
			t.Fatalf("paging did not finish within %d pages", maxPages)
		}
		users, next, err := s.ListUsers(t.Context(), q)
		mustNil(t, fmt.Sprintf("ListUsers page %d", page), err)
		if len(users) > q.Limit {
			t.Fatalf("page %d has %d users, limit %d", page, len(users), q.Limit)
		}
		if len(users) < q.Limit && next != "" {
			t.Errorf("page %d is short (%d) but has cursor %q", page, len(users), next)
		}
		out = append(out, emails(users)...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

func emails(users []storage.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.Email)
	}
	return out
}
