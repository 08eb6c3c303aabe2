package app

import (
	"time"

	"gatehouse/storage"
)

// The API's resource shapes (SPEC §5). Views never carry secrets, hashes or
// key material: whatever the API, console or audit shows goes through them.

// TenantView is a tenant as the API shows it.
type TenantView struct {
	ID                string    `json:"id"`
	OrgID             string    `json:"org_id"`
	Name              string    `json:"name"`
	RedirectURL       string    `json:"redirect_url"`
	AllowedReturnURLs []string  `json:"allowed_return_urls"`
	CreatedAt         time.Time `json:"created_at"`
}

// PartnerView is a partner without its sealed secrets.
type PartnerView struct {
	ID                  string     `json:"id"`
	OrgID               string     `json:"org_id"`
	Name                string     `json:"name"`
	ConsumerKey         string     `json:"consumer_key"`
	Active              bool       `json:"active"`
	AllowedEmailDomains []string   `json:"allowed_email_domains"`
	AllowedSourceIPs    []string   `json:"allowed_source_ips"`
	MaxUsers            *int       `json:"max_users"`
	AllowedRoles        []string   `json:"allowed_roles"`
	AllowedTenants      []string   `json:"allowed_tenants"`
	AllowedOrigins      []string   `json:"allowed_origins"`
	UserProvisioning    string     `json:"user_provisioning"`
	PreviousValidUntil  *time.Time `json:"previous_secret_valid_until,omitempty"`
	// JWKSURL is null for a partner that uploads PEMs only; JWKSFetchedAt
	// is the last successful fetch; JWKSLastError (and its time) the last
	// failed one since, while the last good set keeps verifying.
	JWKSURL         *string    `json:"jwks_url"`
	JWKSFetchedAt   *time.Time `json:"jwks_fetched_at"`
	JWKSLastError   string     `json:"jwks_last_error,omitempty"`
	JWKSLastErrorAt *time.Time `json:"jwks_last_error_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	// ConsumerSecret is set only in the answer to registration.
	ConsumerSecret string `json:"consumer_secret,omitempty"`
}

// KeyView is a partner key without its DER.
type KeyView struct {
	Kid         string     `json:"kid"`
	PartnerID   string     `json:"partner_id"`
	Fingerprint string     `json:"fingerprint"`
	Bits        int        `json:"bits"`
	Label       string     `json:"label"`
	Source      string     `json:"source"` // pem (uploaded) or jwks (from the partner's jwks_url)
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
}

// UserView is a user; Sessions is set when one user is read.
type UserView struct {
	ID           string     `json:"id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	OrgID        string     `json:"org_id"`
	TenantID     string     `json:"tenant_id"`
	Role         string     `json:"role"`
	PartnerSSO   bool       `json:"partner_sso"`
	PartnerID    string     `json:"partner_id"`
	CreatedAt    time.Time  `json:"created_at"`
	LastSignInAt *time.Time `json:"last_sign_in_at"`
	Sessions     *int       `json:"sessions,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func tenantView(t storage.Tenant) TenantView {
	urls := t.AllowedReturnURLs
	if urls == nil {
		urls = []string{}
	}
	return TenantView{ID: t.ID, OrgID: t.OrgID, Name: t.Name, RedirectURL: t.RedirectURL, AllowedReturnURLs: urls, CreatedAt: t.CreatedAt}
}

func partnerView(p storage.Partner, now time.Time) PartnerView {
	v := PartnerView{
		ID: p.ID, OrgID: p.OrgID, Name: p.Name, ConsumerKey: p.ConsumerKey, Active: p.Active,
		AllowedEmailDomains: p.AllowedEmailDomains, AllowedSourceIPs: p.AllowedSourceIPs, MaxUsers: p.MaxUsers,
		AllowedRoles: p.AllowedRoles, AllowedTenants: p.AllowedTenants, AllowedOrigins: p.AllowedOrigins,
		UserProvisioning: p.UserProvisioning, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if p.PreviousSecret != nil && now.Before(p.PreviousValidUntil) {
		v.PreviousValidUntil = optTime(p.PreviousValidUntil)
	}
	if p.JWKSURL != "" {
		u := p.JWKSURL
		v.JWKSURL, v.JWKSFetchedAt = &u, optTime(p.JWKSFetchedAt)
		v.JWKSLastError, v.JWKSLastErrorAt = p.JWKSError, optTime(p.JWKSErrorAt)
	}
	return v
}

func keyView(k storage.Key) KeyView {
	return KeyView{Kid: k.Kid, PartnerID: k.PartnerID, Fingerprint: k.Fingerprint, Bits: k.Bits, Label: k.Label,
		Source: keySource(k), CreatedAt: k.CreatedAt, LastUsedAt: optTime(k.LastUsedAt)}
}

// keySource reads records written before sources existed as uploads.
func keySource(k storage.Key) string {
	if k.Source == storage.KeySourceJWKS {
		return storage.KeySourceJWKS
	}
	return storage.KeySourcePEM
}

// NewUserView shows a stored user.
func NewUserView(u storage.User) UserView {
	return UserView{ID: u.ID, Email: u.Email, Name: u.Name, OrgID: u.OrgID, TenantID: u.TenantID, Role: u.Role,
		PartnerSSO: u.PartnerSSO, PartnerID: u.PartnerID, CreatedAt: u.CreatedAt, LastSignInAt: optTime(u.LastSignInAt)}
}
