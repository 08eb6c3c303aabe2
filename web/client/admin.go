package client

import (
	"context"
	"encoding/json"
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

// call sends body (nil: none) and decodes the 2xx answer into a T: one
// method of the typed API is then one line, and every one reports an API
// refusal the same way (*app.Error, as Do returns it).
func call[T any](ctx context.Context, c *Client, method, path string, body any) (T, error) {
	var out T
	err := c.Do(ctx, method, path, body, &out)
	return out, err
}

// list is GET path for an answer {key: [...]}: the items, never nil, so an
// empty list prints as [] the way the in-process service's does.
func list[T any](ctx context.Context, c *Client, path, key string) ([]T, error) {
	raw, err := call[map[string]json.RawMessage](ctx, c, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	items := []T{}
	if r, ok := raw[key]; ok {
		if err := json.Unmarshal(r, &items); err != nil {
			return nil, err
		}
	}
	if items == nil { // "key": null
		items = []T{}
	}
	return items, nil
}

// remove is DELETE path, whose answer (204) has no body to decode.
func (c *Client) remove(ctx context.Context, path string) error {
	return c.Do(ctx, http.MethodDelete, path, nil, nil)
}

// withQuery appends the query of the non-empty values in pairs (name,
// value, name, value, …), in their order.
func withQuery(path string, pairs ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			v.Set(pairs[i], pairs[i+1])
		}
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// Health reads GET /api/v1/health. A server that answers but is not ready
// (503) is still a health report, not an error.
func (c *Client) Health(ctx context.Context) (app.Health, error) {
	h, err := call[app.Health](ctx, c, http.MethodGet, "/api/v1/health", nil)
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
	return call[storage.Org](ctx, c, http.MethodPost, "/api/v1/orgs", in)
}

// ListOrgs is GET /api/v1/orgs.
func (c *Client) ListOrgs(ctx context.Context, _ app.Actor) ([]storage.Org, error) {
	return list[storage.Org](ctx, c, "/api/v1/orgs", "orgs")
}

// CreateTenant is POST …/tenants.
func (c *Client) CreateTenant(ctx context.Context, _ app.Actor, orgID string, in app.TenantInput) (app.TenantView, error) {
	return call[app.TenantView](ctx, c, http.MethodPost, orgPath(orgID, "tenants"), in)
}

// ListTenants is GET …/tenants.
func (c *Client) ListTenants(ctx context.Context, _ app.Actor, orgID string) ([]app.TenantView, error) {
	return list[app.TenantView](ctx, c, orgPath(orgID, "tenants"), "tenants")
}

// UpdateTenant is PATCH …/tenants/{id}.
func (c *Client) UpdateTenant(ctx context.Context, _ app.Actor, orgID, id string, p app.TenantPatch) (app.TenantView, error) {
	return call[app.TenantView](ctx, c, http.MethodPatch, orgPath(orgID, "tenants", id), p)
}

// DeleteTenant is DELETE …/tenants/{id}.
func (c *Client) DeleteTenant(ctx context.Context, _ app.Actor, orgID, id string) error {
	return c.remove(ctx, orgPath(orgID, "tenants", id))
}

// CreatePartner is POST …/partners; the answer carries the consumer secret.
func (c *Client) CreatePartner(ctx context.Context, _ app.Actor, orgID string, in app.PartnerInput) (app.PartnerView, error) {
	return call[app.PartnerView](ctx, c, http.MethodPost, orgPath(orgID, "partners"), in)
}

// ListPartners is GET …/partners[?active=].
func (c *Client) ListPartners(ctx context.Context, _ app.Actor, orgID string, active *bool) ([]app.PartnerView, error) {
	var activeQ string
	if active != nil {
		activeQ = strconv.FormatBool(*active)
	}
	return list[app.PartnerView](ctx, c, withQuery(orgPath(orgID, "partners"), "active", activeQ), "partners")
}

// GetPartner is GET …/partners/{id}.
func (c *Client) GetPartner(ctx context.Context, _ app.Actor, orgID, id string) (app.PartnerView, error) {
	return call[app.PartnerView](ctx, c, http.MethodGet, orgPath(orgID, "partners", id), nil)
}

// UpdatePartner is PATCH …/partners/{id}.
func (c *Client) UpdatePartner(ctx context.Context, _ app.Actor, orgID, id string, patch app.PartnerPatch) (app.PartnerView, error) {
	return call[app.PartnerView](ctx, c, http.MethodPatch, orgPath(orgID, "partners", id), patch)
}

// DeactivatePartner is POST …/partners/{id}/deactivate.
func (c *Client) DeactivatePartner(ctx context.Context, _ app.Actor, orgID, id string) (app.PartnerView, error) {
	return call[app.PartnerView](ctx, c, http.MethodPost, orgPath(orgID, "partners", id, "deactivate"), struct{}{})
}

// ReactivatePartner is POST …/partners/{id}/reactivate.
func (c *Client) ReactivatePartner(ctx context.Context, _ app.Actor, orgID, id string) (app.PartnerView, error) {
	return call[app.PartnerView](ctx, c, http.MethodPost, orgPath(orgID, "partners", id, "reactivate"), struct{}{})
}

// RotateSecret is POST …/partners/{id}/rotate-secret.
func (c *Client) RotateSecret(ctx context.Context, _ app.Actor, orgID, id string, grace time.Duration) (app.RotateResult, error) {
	in := struct {
		GracePeriodSeconds int64 `json:"grace_period_seconds"`
	}{int64(grace / time.Second)}
	return call[app.RotateResult](ctx, c, http.MethodPost, orgPath(orgID, "partners", id, "rotate-secret"), in)
}

// DeletePartner is DELETE …/partners/{id}.
func (c *Client) DeletePartner(ctx context.Context, _ app.Actor, orgID, id string) error {
	return c.remove(ctx, orgPath(orgID, "partners", id))
}

// AddKey is POST …/partners/{id}/keys.
func (c *Client) AddKey(ctx context.Context, _ app.Actor, orgID, partnerID string, in app.KeyInput) (app.KeyView, error) {
	return call[app.KeyView](ctx, c, http.MethodPost, orgPath(orgID, "partners", partnerID, "keys"), in)
}

// ListKeys is GET …/partners/{id}/keys.
func (c *Client) ListKeys(ctx context.Context, _ app.Actor, orgID, partnerID string) ([]app.KeyView, error) {
	return list[app.KeyView](ctx, c, orgPath(orgID, "partners", partnerID, "keys"), "keys")
}

// DeleteKey is DELETE …/partners/{id}/keys/{kid}.
func (c *Client) DeleteKey(ctx context.Context, _ app.Actor, orgID, partnerID, kid string) error {
	return c.remove(ctx, orgPath(orgID, "partners", partnerID, "keys", kid))
}

// ListUsers is GET …/users?q=&tenant=&limit=&cursor=.
func (c *Client) ListUsers(ctx context.Context, _ app.Actor, orgID, q, tenantID string, limit int, cursor string) (app.UserList, error) {
	out, err := call[app.UserList](ctx, c, http.MethodGet, withQuery(orgPath(orgID, "users"),
		"q", q, "tenant", tenantID, "limit", strconv.Itoa(limit), "cursor", cursor), nil)
	if out.Users == nil {
		out.Users = []app.UserView{}
	}
	return out, err
}

// GetUser is GET …/users/{id}.
func (c *Client) GetUser(ctx context.Context, _ app.Actor, orgID, id string) (app.UserView, error) {
	return call[app.UserView](ctx, c, http.MethodGet, orgPath(orgID, "users", id), nil)
}

// DeleteUser is DELETE …/users/{id}.
func (c *Client) DeleteUser(ctx context.Context, _ app.Actor, orgID, id string) error {
	return c.remove(ctx, orgPath(orgID, "users", id))
}

// ListAudit is GET …/audit?type=&since=&limit=&cursor=&request_id=&email=&partner_id=.
func (c *Client) ListAudit(ctx context.Context, _ app.Actor, orgID string, f app.AuditFilter) (app.AuditList, error) {
	out, err := call[app.AuditList](ctx, c, http.MethodGet, withQuery(orgPath(orgID, "audit"),
		"type", f.Type, "since", f.Since, "limit", strconv.Itoa(f.Limit), "cursor", f.Cursor,
		"request_id", f.RequestID, "email", f.Email, "partner_id", f.PartnerID), nil)
	if out.Events == nil {
		out.Events = []storage.AuditEvent{}
	}
	return out, err
}

// TokenCheck is POST …/token-check: every check with its verdict; nothing is written.
func (c *Client) TokenCheck(ctx context.Context, _ app.Actor, orgID string, in app.TokenCheckInput) (app.TokenCheckResult, error) {
	return call[app.TokenCheckResult](ctx, c, http.MethodPost, orgPath(orgID, "token-check"), in)
}

// CreateAdminToken is POST …/admin-tokens: the token's value is in this answer only.
func (c *Client) CreateAdminToken(ctx context.Context, _ app.Actor, orgID string, in app.AdminTokenInput) (app.AdminTokenView, error) {
	return call[app.AdminTokenView](ctx, c, http.MethodPost, orgPath(orgID, "admin-tokens"), in)
}

// ListAdminTokens is GET …/admin-tokens (labels, roles and dates; never values).
func (c *Client) ListAdminTokens(ctx context.Context, _ app.Actor, orgID string) ([]app.AdminTokenView, error) {
	return list[app.AdminTokenView](ctx, c, orgPath(orgID, "admin-tokens"), "admin_tokens")
}

// RevokeAdminToken is DELETE …/admin-tokens/{id}.
func (c *Client) RevokeAdminToken(ctx context.Context, _ app.Actor, orgID, id string) error {
	return c.remove(ctx, orgPath(orgID, "admin-tokens", id))
}
