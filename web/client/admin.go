package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
)

// The typed admin API: the same operations and signatures as *app.Service,
// spoken over the socket. The actor arguments are ignored; the socket acts
// as the operator.
var _ app.Admin = (*Client)(nil)

func orgPath(orgID string, parts ...string) string {
	p := "/api/v1/orgs/" + url.PathEscape(orgID)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// Health reads GET /api/v1/health. A server that answers but is not ready
// (503) is still a health report, not an error.
func (c *Client) Health(ctx context.Context) (app.Health, error) {
	var h app.Health
	err := c.Do(ctx, http.MethodGet, "/api/v1/health", nil, &h)
	if err != nil {
		var unhealthy *StatusError
		if asStatus(err, &unhealthy) && unhealthy.Status == http.StatusServiceUnavailable {
			return app.Health{Status: "error", Database: "error", EncryptionKeys: "error"}, nil
		}
	}
	return h, err
}

// CreateOrg is POST /api/v1/orgs.
func (c *Client) CreateOrg(ctx context.Context, _ app.Actor, in app.OrgInput) (storage.Org, error) {
	var o storage.Org
	return o, c.Do(ctx, http.MethodPost, "/api/v1/orgs", in, &o)
}

// ListOrgs is GET /api/v1/orgs.
func (c *Client) ListOrgs(ctx context.Context, _ app.Actor) ([]storage.Org, error) {
	var out struct {
		Orgs []storage.Org `json:"orgs"`
	}
	return out.Orgs, c.Do(ctx, http.MethodGet, "/api/v1/orgs", nil, &out)
}

// CreateTenant is POST …/tenants.
func (c *Client) CreateTenant(ctx context.Context, _ app.Actor, orgID string, in app.TenantInput) (app.TenantView, error) {
	var t app.TenantView
	return t, c.Do(ctx, http.MethodPost, orgPath(orgID, "tenants"), in, &t)
}

// ListTenants is GET …/tenants.
func (c *Client) ListTenants(ctx context.Context, _ app.Actor, orgID string) ([]app.TenantView, error) {
	var out struct {
		Tenants []app.TenantView `json:"tenants"`
	}
	return out.Tenants, c.Do(ctx, http.MethodGet, orgPath(orgID, "tenants"), nil, &out)
}

// UpdateTenant is PATCH …/tenants/{id}.
func (c *Client) UpdateTenant(ctx context.Context, _ app.Actor, orgID, id string, p app.TenantPatch) (app.TenantView, error) {
	var t app.TenantView
	return t, c.Do(ctx, http.MethodPatch, orgPath(orgID, "tenants", id), p, &t)
}

// DeleteTenant is DELETE …/tenants/{id}.
func (c *Client) DeleteTenant(ctx context.Context, _ app.Actor, orgID, id string) error {
	return c.Do(ctx, http.MethodDelete, orgPath(orgID, "tenants", id), nil, nil)
}

// CreatePartner is POST …/partners; the answer carries the consumer secret.
func (c *Client) CreatePartner(ctx context.Context, _ app.Actor, orgID string, in app.PartnerInput) (app.PartnerView, error) {
	var p app.PartnerView
	return p, c.Do(ctx, http.MethodPost, orgPath(orgID, "partners"), in, &p)
}

// ListPartners is GET …/partners[?active=].
func (c *Client) ListPartners(ctx context.Context, _ app.Actor, orgID string, active *bool) ([]app.PartnerView, error) {
	path := orgPath(orgID, "partners")
	if active != nil {
		path += "?active=" + strconv.FormatBool(*active)
	}
	var out struct {
		Partners []app.PartnerView `json:"partners"`
	}
	return out.Partners, c.Do(ctx, http.MethodGet, path, nil, &out)
}

// GetPartner is GET …/partners/{id}.
func (c *Client) GetPartner(ctx context.Context, _ app.Actor, orgID, id string) (app.PartnerView, error) {
	var p app.PartnerView
	return p, c.Do(ctx, http.MethodGet, orgPath(orgID, "partners", id), nil, &p)
}

// UpdatePartner is PATCH …/partners/{id}.
func (c *Client) UpdatePartner(ctx context.Context, _ app.Actor, orgID, id string, patch app.PartnerPatch) (app.PartnerView, error) {
	var p app.PartnerView
	return p, c.Do(ctx, http.MethodPatch, orgPath(orgID, "partners", id), patch, &p)
}

// DeactivatePartner is POST …/partners/{id}/deactivate.
func (c *Client) DeactivatePartner(ctx context.Context, _ app.Actor, orgID, id string) (app.PartnerView, error) {
	var p app.PartnerView
	return p, c.Do(ctx, http.MethodPost, orgPath(orgID, "partners", id, "deactivate"), struct{}{}, &p)
}

// ReactivatePartner is POST …/partners/{id}/reactivate.
func (c *Client) ReactivatePartner(ctx context.Context, _ app.Actor, orgID, id string) (app.PartnerView, error) {
	var p app.PartnerView
	return p, c.Do(ctx, http.MethodPost, orgPath(orgID, "partners", id, "reactivate"), struct{}{}, &p)
}

// RotateSecret is POST …/partners/{id}/rotate-secret.
func (c *Client) RotateSecret(ctx context.Context, _ app.Actor, orgID, id string, grace time.Duration) (app.RotateResult, error) {
	in := struct {
		GracePeriodSeconds int64 `json:"grace_period_seconds"`
	}{int64(grace / time.Second)}
	var r app.RotateResult
	return r, c.Do(ctx, http.MethodPost, orgPath(orgID, "partners", id, "rotate-secret"), in, &r)
}

// DeletePartner is DELETE …/partners/{id}.
func (c *Client) DeletePartner(ctx context.Context, _ app.Actor, orgID, id string) error {
	return c.Do(ctx, http.MethodDelete, orgPath(orgID, "partners", id), nil, nil)
}

// AddKey is POST …/partners/{id}/keys.
func (c *Client) AddKey(ctx context.Context, _ app.Actor, orgID, partnerID string, in app.KeyInput) (app.KeyView, error) {
	var k app.KeyView
	return k, c.Do(ctx, http.MethodPost, orgPath(orgID, "partners", partnerID, "keys"), in, &k)
}

// ListKeys is GET …/partners/{id}/keys.
func (c *Client) ListKeys(ctx context.Context, _ app.Actor, orgID, partnerID string) ([]app.KeyView, error) {
	var out struct {
		Keys []app.KeyView `json:"keys"`
	}
	return out.Keys, c.Do(ctx, http.MethodGet, orgPath(orgID, "partners", partnerID, "keys"), nil, &out)
}

// DeleteKey is DELETE …/partners/{id}/keys/{kid}.
func (c *Client) DeleteKey(ctx context.Context, _ app.Actor, orgID, partnerID, kid string) error {
	return c.Do(ctx, http.MethodDelete, orgPath(orgID, "partners", partnerID, "keys", kid), nil, nil)
}

// ListUsers is GET …/users?q=&tenant=&limit=&cursor=.
func (c *Client) ListUsers(ctx context.Context, _ app.Actor, orgID, q, tenantID string, limit int, cursor string) (app.UserList, error) {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if tenantID != "" {
		v.Set("tenant", tenantID)
	}
	v.Set("limit", strconv.Itoa(limit))
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	var out app.UserList
	err := c.Do(ctx, http.MethodGet, orgPath(orgID, "users")+"?"+v.Encode(), nil, &out)
	if out.Users == nil {
		out.Users = []app.UserView{}
	}
	return out, err
}

// GetUser is GET …/users/{id}.
func (c *Client) GetUser(ctx context.Context, _ app.Actor, orgID, id string) (app.UserView, error) {
	var u app.UserView
	return u, c.Do(ctx, http.MethodGet, orgPath(orgID, "users", id), nil, &u)
}

// DeleteUser is DELETE …/users/{id}.
func (c *Client) DeleteUser(ctx context.Context, _ app.Actor, orgID, id string) error {
	return c.Do(ctx, http.MethodDelete, orgPath(orgID, "users", id), nil, nil)
}

// ListAudit is GET …/audit?type=&since=&limit=&cursor=&request_id=&email=&partner_id=.
func (c *Client) ListAudit(ctx context.Context, _ app.Actor, orgID string, f app.AuditFilter) (app.AuditList, error) {
	v := url.Values{}
	if f.Type != "" {
		v.Set("type", f.Type)
	}
	if f.Since != "" {
		v.Set("since", f.Since)
	}
	v.Set("limit", strconv.Itoa(f.Limit))
	if f.Cursor != "" {
		v.Set("cursor", f.Cursor)
	}
	for name, value := range map[string]string{"request_id": f.RequestID, "email": f.Email, "partner_id": f.PartnerID} {
		if value != "" {
			v.Set(name, value)
		}
	}
	var out app.AuditList
	err := c.Do(ctx, http.MethodGet, orgPath(orgID, "audit")+"?"+v.Encode(), nil, &out)
	if out.Events == nil {
		out.Events = []storage.AuditEvent{}
	}
	return out, err
}

// TokenCheck is POST …/token-check: every check with its verdict; nothing is written.
func (c *Client) TokenCheck(ctx context.Context, _ app.Actor, orgID string, in app.TokenCheckInput) (app.TokenCheckResult, error) {
	var out app.TokenCheckResult
	return out, c.Do(ctx, http.MethodPost, orgPath(orgID, "token-check"), in, &out)
}

// CreateAdminToken is POST …/admin-tokens: the token's value is in this answer only.
func (c *Client) CreateAdminToken(ctx context.Context, _ app.Actor, orgID string, in app.AdminTokenInput) (app.AdminTokenView, error) {
	var t app.AdminTokenView
	return t, c.Do(ctx, http.MethodPost, orgPath(orgID, "admin-tokens"), in, &t)
}

// ListAdminTokens is GET …/admin-tokens (labels, roles and dates; never values).
func (c *Client) ListAdminTokens(ctx context.Context, _ app.Actor, orgID string) ([]app.AdminTokenView, error) {
	var out struct {
		Tokens []app.AdminTokenView `json:"admin_tokens"`
	}
	err := c.Do(ctx, http.MethodGet, orgPath(orgID, "admin-tokens"), nil, &out)
	if out.Tokens == nil {
		out.Tokens = []app.AdminTokenView{}
	}
	return out.Tokens, err
}

// RevokeAdminToken is DELETE …/admin-tokens/{id}.
func (c *Client) RevokeAdminToken(ctx context.Context, _ app.Actor, orgID, id string) error {
	return c.Do(ctx, http.MethodDelete, orgPath(orgID, "admin-tokens", id), nil, nil)
}
