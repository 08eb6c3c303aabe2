package app

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"gatehouse/storage"
)

// OrgInput creates an organization.
type OrgInput struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

// CreateOrg creates an organization (operator only).
func (s *Service) CreateOrg(ctx context.Context, actor Actor, in OrgInput) (storage.Org, error) {
	if !actor.fullRights() {
		return storage.Org{}, Errorf(CodeForbidden, "organizations are created by the operator")
	}
	name, err := cleanName("name", in.Name, true)
	if err != nil {
		return storage.Org{}, err
	}
	id, err := s.pickID(in.ID, "org_")
	if err != nil {
		return storage.Org{}, err
	}
	o := storage.Org{ID: id, Name: name, CreatedAt: s.now().UTC()}
	if err := s.store.CreateOrg(ctx, o); err != nil {
		return storage.Org{}, storeErr(err, "organization "+id)
	}
	s.auditAdmin(ctx, actor, "org.create", id, id, map[string]any{"after": o})
	return o, nil
}

// ListOrgs lists the organizations the actor can see.
func (s *Service) ListOrgs(ctx context.Context, actor Actor) ([]storage.Org, error) {
	if !actor.fullRights() {
		o, err := s.GetOrg(ctx, actor, actor.OrgID)
		if err != nil {
			return nil, err
		}
		return []storage.Org{o}, nil
	}
	orgs, err := s.store.ListOrgs(ctx)
	if orgs == nil {
		orgs = []storage.Org{}
	}
	return orgs, err
}

// GetOrg reads one organization.
func (s *Service) GetOrg(ctx context.Context, actor Actor, id string) (storage.Org, error) {
	if err := s.permit(ctx, actor, id, readAccess); err != nil {
		return storage.Org{}, err
	}
	o, err := s.store.GetOrg(ctx, id)
	return o, storeErr(err, "organization")
}

func (s *Service) pickID(given, prefix string) (string, error) {
	if given == "" {
		return newID(s.rand, prefix)
	}
	if !ValidID(given) {
		return "", validation("id", "must be 1–64 of A–Z a–z 0–9 _ -")
	}
	return given, nil
}

func cleanName(field, raw string, required bool) (string, error) {
	name := strings.TrimSpace(raw)
	if required && name == "" {
		return "", validation(field, "is required")
	}
	if utf8.RuneCountInString(name) > 255 || hasControl(name) {
		return "", validation(field, "must be at most 255 characters without control characters")
	}
	return name, nil
}

// TenantInput creates a tenant; TenantPatch changes one.
type TenantInput struct {
	ID                string   `json:"id,omitempty"`
	Name              string   `json:"name"`
	RedirectURL       string   `json:"redirect_url,omitempty"`
	AllowedReturnURLs []string `json:"allowed_return_urls,omitempty"`
}

// TenantPatch sets only the fields it names.
type TenantPatch struct {
	Name              Field[string]   `json:"name,omitzero"`
	RedirectURL       Field[string]   `json:"redirect_url,omitzero"`
	AllowedReturnURLs Field[[]string] `json:"allowed_return_urls,omitzero"`
}

// CreateTenant adds a tenant to an organization.
func (s *Service) CreateTenant(ctx context.Context, actor Actor, orgID string, in TenantInput) (TenantView, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return TenantView{}, err
	}
	name, err := cleanName("name", in.Name, true)
	if err != nil {
		return TenantView{}, err
	}
	if err := checkURL("redirect_url", in.RedirectURL); err != nil {
		return TenantView{}, err
	}
	urls, err := checkURLList("allowed_return_urls", in.AllowedReturnURLs)
	if err != nil {
		return TenantView{}, err
	}
	id, err := s.pickID(in.ID, "ten_")
	if err != nil {
		return TenantView{}, err
	}
	t := storage.Tenant{ID: id, OrgID: orgID, Name: name, RedirectURL: in.RedirectURL, AllowedReturnURLs: urls, CreatedAt: s.now().UTC()}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return TenantView{}, storeErr(err, "tenant "+id)
	}
	s.auditAdmin(ctx, actor, "tenant.create", orgID, id, map[string]any{"after": tenantView(t)})
	return tenantView(t), nil
}

// ListTenants lists an organization's tenants.
func (s *Service) ListTenants(ctx context.Context, actor Actor, orgID string) ([]TenantView, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return nil, err
	}
	ts, err := s.store.ListTenants(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]TenantView, 0, len(ts))
	for _, t := range ts {
		out = append(out, tenantView(t))
	}
	return out, nil
}

// GetTenant reads one tenant.
func (s *Service) GetTenant(ctx context.Context, actor Actor, orgID, id string) (TenantView, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return TenantView{}, err
	}
	t, err := s.store.GetTenant(ctx, orgID, id)
	if err != nil {
		return TenantView{}, storeErr(err, "tenant")
	}
	return tenantView(t), nil
}

// errUnchanged aborts an update closure whose patch changes nothing, so a
// no-op PATCH writes nothing.
var errUnchanged = errors.New("unchanged")

// UpdateTenant applies a patch.
func (s *Service) UpdateTenant(ctx context.Context, actor Actor, orgID, id string, p TenantPatch) (TenantView, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return TenantView{}, err
	}
	var name string
	var urls []string
	var err error
	if p.Name.Set {
		if p.Name.Null {
			return TenantView{}, validation("name", "cannot be null")
		}
		if name, err = cleanName("name", p.Name.Value, true); err != nil {
			return TenantView{}, err
		}
	}
	if p.RedirectURL.Set {
		if err := checkURL("redirect_url", p.RedirectURL.Value); err != nil {
			return TenantView{}, err
		}
	}
	if p.AllowedReturnURLs.Set {
		if urls, err = checkURLList("allowed_return_urls", p.AllowedReturnURLs.Value); err != nil {
			return TenantView{}, err
		}
	}
	var before storage.Tenant
	t, err := s.store.UpdateTenant(ctx, orgID, id, func(t storage.Tenant) (storage.Tenant, error) {
		before = t
		if p.Name.Set {
			t.Name = name
		}
		if p.RedirectURL.Set {
			t.RedirectURL = p.RedirectURL.Value
		}
		if p.AllowedReturnURLs.Set {
			t.AllowedReturnURLs = urls
		}
		if equalJSON(tenantView(before), tenantView(t)) {
			return t, errUnchanged
		}
		return t, nil
	})
	if errors.Is(err, errUnchanged) {
		return tenantView(before), nil
	}
	if err != nil {
		return TenantView{}, storeErr(err, "tenant")
	}
	s.auditAdmin(ctx, actor, "tenant.update", orgID, id, map[string]any{"changes": diffFields(tenantView(before), tenantView(t))})
	return tenantView(t), nil
}

// DeleteTenant removes a tenant that has no users.
func (s *Service) DeleteTenant(ctx context.Context, actor Actor, orgID, id string) error {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return err
	}
	before, err := s.store.GetTenant(ctx, orgID, id)
	if err != nil {
		return storeErr(err, "tenant")
	}
	if err := s.store.DeleteTenant(ctx, orgID, id); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return Errorf(CodeConflict, "tenant %s still has users: delete or move them first", id)
		}
		return storeErr(err, "tenant")
	}
	s.auditAdmin(ctx, actor, "tenant.delete", orgID, id, map[string]any{"before": tenantView(before)})
	return nil
}

// checkURL accepts "" or an absolute http(s) URL without user info.
func checkURL(field, raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > 2048 || hasControlOrSpace(raw) || strings.Contains(raw, "\\") {
		return validation(field, "not an absolute http(s) URL")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return validation(field, "not an absolute http(s) URL")
	}
	return nil
}

func checkURLList(field string, list []string) ([]string, error) {
	if len(list) > 100 {
		return nil, validation(field, "at most 100 entries")
	}
	out := []string{}
	for i, raw := range list {
		if raw == "" {
			return nil, validation(indexed(field, i), "must not be empty")
		}
		if err := checkURL(indexed(field, i), raw); err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}
