package storage

import "time"

// Org is an MSSP organization; its ID is the organizationId partner tokens carry.
type Org struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Tenant is one customer of the organization. IDs are unique within an organization.
type Tenant struct {
	ID                string    `json:"id"`
	OrgID             string    `json:"org_id"`
	Name              string    `json:"name"`
	RedirectURL       string    `json:"redirect_url"`
	AllowedReturnURLs []string  `json:"allowed_return_urls"`
	CreatedAt         time.Time `json:"created_at"`
}

// Sealed is a secret encrypted by app's key ring: Version names the key that sealed it.
type Sealed struct {
	Version    int    `json:"v"`
	Nonce      []byte `json:"n"`
	Ciphertext []byte `json:"c"`
}

// Partner is a portal or identity provider trusted to assert users into the
// organization's tenants. A nil policy slice means "no restriction"; an empty,
// non-nil slice means "nothing allowed" (encoding/json keeps that distinction:
// null decodes to nil, [] to an empty slice).
type Partner struct {
	ID                  string    `json:"id"`
	OrgID               string    `json:"org_id"`
	Name                string    `json:"name"`
	ConsumerKey         string    `json:"consumer_key"`
	Active              bool      `json:"active"`
	AllowedEmailDomains []string  `json:"allowed_email_domains"`
	AllowedSourceIPs    []string  `json:"allowed_source_ips"`
	MaxUsers            *int      `json:"max_users"`
	AllowedRoles        []string  `json:"allowed_roles"`
	AllowedTenants      []string  `json:"allowed_tenants"`
	AllowedOrigins      []string  `json:"allowed_origins"`
	UserProvisioning    string    `json:"user_provisioning"`
	Secret              *Sealed   `json:"secret,omitempty"`
	PreviousSecret      *Sealed   `json:"previous_secret,omitempty"`
	PreviousValidUntil  time.Time `json:"previous_valid_until,omitempty"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
	// JWKSURL is where the partner publishes its keys (SPEC §4.7); empty
	// when it uploads PEMs only. JWKSFetchedAt is the last successful fetch;
	// JWKSError/JWKSErrorAt the last failure since then (cleared by a
	// success); JWKSFailureAuditedAt rate-limits the failure audit event
	// across restarts and instances.
	JWKSURL              string    `json:"jwks_url,omitempty"`
	JWKSFetchedAt        time.Time `json:"jwks_fetched_at,omitempty"`
	JWKSError            string    `json:"jwks_error,omitempty"`
	JWKSErrorAt          time.Time `json:"jwks_error_at,omitempty"`
	JWKSFailureAuditedAt time.Time `json:"jwks_failure_audited_at,omitempty"`
}

// Where a key came from: uploaded as a PEM through the keys API, or taken
// from the partner's JWKS URL (and replaced with it on every refresh).
const (
	KeySourcePEM  = "pem"
	KeySourceJWKS = "jwks"
)

// Key is an RSA public key a partner signs RS256 tokens with. Kid is unique
// within an organization. Source is KeySourcePEM or KeySourceJWKS; records
// written before sources existed have "" and are PEM uploads.
type Key struct {
	Kid         string    `json:"kid"`
	OrgID       string    `json:"org_id"`
	PartnerID   string    `json:"partner_id"`
	Fingerprint string    `json:"fingerprint"`
	Bits        int       `json:"bits"`
	Label       string    `json:"label"`
	DER         []byte    `json:"der"` // PKIX (SPKI) encoding of the public key
	Source      string    `json:"source,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	LastUsedAt  time.Time `json:"last_used_at,omitempty"`
}

// User is bound to exactly one tenant. Email is unique within the user's
// organization (the same address in two organizations is two unrelated
// users) and stored normalised (lower case), so equality is exact.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	OrgID        string    `json:"org_id"`
	TenantID     string    `json:"tenant_id"`
	Role         string    `json:"role"`
	PartnerSSO   bool      `json:"partner_sso"`
	PartnerID    string    `json:"partner_id"`
	CreatedAt    time.Time `json:"created_at"`
	LastSignInAt time.Time `json:"last_sign_in_at,omitempty"`
}

// Session is what a signed-in browser holds. ID is the hash of the cookie
// value (never the value itself); it is time-ordered so new sessions append
// to the end of the bucket instead of splitting random pages.
type Session struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	OrgID     string    `json:"org_id"`
	PartnerID string    `json:"partner_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LoginToken is the one-time token HMAC step 1 issues and step 2 consumes.
// ID is the hash of the token value.
type LoginToken struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"org_id"`
	PartnerID string    `json:"partner_id"`
	TenantID  string    `json:"tenant_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	ReturnTo  string    `json:"return_to"`
	ClientIP  string    `json:"client_ip"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AdminToken is a bearer credential for the TCP admin API. Hash is the hash
// of the token value; the value itself is never stored.
type AdminToken struct {
	ID         string    `json:"id"`
	OrgID      string    `json:"org_id"`
	Role       string    `json:"role"`
	Label      string    `json:"label"`
	Hash       string    `json:"hash"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitempty"`
}

// AuditEvent is one append-only record. Seq is assigned by the store (1, 2, …);
// PrevHash and Hash chain events together (see HashEvent).
type AuditEvent struct {
	Seq       uint64         `json:"seq"`
	ID        string         `json:"id"`
	Time      time.Time      `json:"time"`
	Type      string         `json:"type"`
	Actor     string         `json:"actor"`
	Outcome   string         `json:"outcome"`
	Code      string         `json:"code"`
	OrgID     string         `json:"org_id"`
	TenantID  string         `json:"tenant_id"`
	PartnerID string         `json:"partner_id"`
	Email     string         `json:"email"`
	ClientIP  string         `json:"client_ip"`
	RequestID string         `json:"request_id"`
	Details   map[string]any `json:"details,omitempty"`
	PrevHash  string         `json:"prev_hash"`
	Hash      string         `json:"hash"`
}
