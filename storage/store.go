package storage

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Sentinel errors every backend returns (possibly wrapped).
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with the same identity (or unique index value) exists.
	ErrExists = errors.New("already exists")
	// ErrConflict: the change would break an invariant (e.g. a tenant that still has users).
	ErrConflict = errors.New("conflict")
	// ErrReplay: a replay key (jti, nonce) was already recorded and has not expired.
	ErrReplay = errors.New("replayed")
	// ErrPartnerInactive: SignIn found the session's partner missing or
	// deactivated inside its transaction (a deactivation raced the sign-in).
	ErrPartnerInactive = errors.New("partner inactive")
	// ErrNoTenant: a user written by SignIn or CreateUser names a tenant its
	// organization does not have (checked in the write's own transaction,
	// so a sign-in racing a tenant deletion never leaves a user bound to a
	// tenant that is gone).
	ErrNoTenant = errors.New("no such tenant")
	// ErrInvalidCursor: a paging cursor that this backend did not issue.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrUnavailable: the database cannot be reached or did not answer in
	// time; the operation wrote nothing and may be retried (a network
	// database's outage, never a rule of the data).
	ErrUnavailable = errors.New("unavailable")
)

// Replay is a one-use marker (a JWT jti or an HMAC nonce) kept until ExpiresAt.
type Replay struct {
	Key       string
	ExpiresAt time.Time
}

// KeyTouch records that a key verified a token at At.
type KeyTouch struct {
	OrgID string
	Kid   string
	At    time.Time
}

// ProvisionFunc decides the user a sign-in ends with. existing is nil when no
// user of the sign-in's organization has the email. partnerUsers counts users whose PartnerID is the given
// partner (only call it when needed: it costs a scan). Returning an error
// aborts the sign-in with nothing written. The function runs inside the
// store's write transaction: it must not call the store, and it may run more
// than once, so it must not have side effects.
type ProvisionFunc func(existing *User, partnerUsers func(partnerID string) int) (User, error)

// SignInWrite is everything a successful sign-in writes, applied atomically:
// a replay marker, the provisioned user, the session, the key's last use and
// the audit event. Either all of it is durable when SignIn returns nil, or none.
// The partner named by Session.PartnerID must exist and be active inside the
// transaction (else ErrPartnerInactive), so a sign-in racing a deactivation
// can never leave a session behind it. A TouchKey naming a key deleted in the
// meantime is skipped, not an error.
type SignInWrite struct {
	Now time.Time // judges replay expiry
	// OrgID and Email select the existing user: an email is unique only
	// within its organization, so the same address in another organization
	// is another user that this sign-in never reads or touches. The
	// provisioned user must belong to OrgID and keep Email.
	OrgID     string
	Email     string // normalised
	Replay    *Replay
	Provision ProvisionFunc
	Session   Session // UserID is filled in from the provisioned user
	TouchKey  *KeyTouch
	Audit     *AuditEvent
}

// RevokeWrite is a partner-side sign-out or deprovisioning (SPEC §4.5),
// applied atomically: the replay marker, the deletion of the user's sessions
// and of the email's unconsumed login tokens (and, with DeleteUser, of the
// user) and the audit event. Either all of it is durable when Revoke returns
// nil, or none of it.
type RevokeWrite struct {
	Now    time.Time // judges replay and session expiry
	OrgID  string
	Email  string // normalised; the user is looked up within OrgID
	Replay Replay // the jti or nonce; recorded only when the revoke is applied
	// DeleteUser removes the user as well (deprovision).
	DeleteUser bool
	// Check decides, inside the transaction, whether the user found (nil
	// when the email is unknown in OrgID) may be touched. An error aborts
	// with nothing written and is returned as is. It must not call the store.
	Check func(existing *User) error
	// Audit builds the event from the outcome, inside the transaction.
	Audit func(RevokeResult) AuditEvent
}

// RevokeResult is what a Revoke ended.
type RevokeResult struct {
	User            *User // nil when the email is unknown in the organization
	SessionsRevoked int   // sessions live at Now that were deleted
	LoginTokens     int   // unconsumed login tokens deleted
}

// UserQuery selects users of one organization, ordered by email.
type UserQuery struct {
	OrgID    string
	Q        string // case-insensitive substring of email or name
	TenantID string
	Limit    int
	Cursor   string // opaque, from a previous page
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	OrgID string // empty: every organization
	Type  string // exact type or prefix ending in "." (e.g. "signin.")
	Since time.Time
	// RequestID, Email and PartnerID find the events of one answer, one user
	// or one partner: exact matches (Email ignoring case, as emails compare).
	RequestID string
	Email     string
	PartnerID string
	Limit     int
	Cursor    string
}

// Matches reports whether e passes the query's filters (not its paging):
// every backend filters with this, so they agree on what a type prefix means.
func (q AuditQuery) Matches(e AuditEvent) bool {
	if q.OrgID != "" && e.OrgID != q.OrgID {
		return false
	}
	if q.Type != "" {
		if strings.HasSuffix(q.Type, ".") {
			if !strings.HasPrefix(e.Type, q.Type) {
				return false
			}
		} else if e.Type != q.Type {
			return false
		}
	}
	if q.RequestID != "" && e.RequestID != q.RequestID {
		return false
	}
	if q.PartnerID != "" && e.PartnerID != q.PartnerID {
		return false
	}
	if q.Email != "" && !strings.EqualFold(e.Email, q.Email) {
		return false
	}
	return q.Since.IsZero() || !e.Time.Before(q.Since)
}

// SweepResult counts what Sweep removed.
type SweepResult struct {
	Sessions, Replays, LoginTokens int
}

// Store is the persistence contract. Methods return ErrNotFound, ErrExists,
// ErrConflict or ErrReplay (wrapped or not) for the conditions they document;
// any other error is a backend failure. Update functions receive a copy of the
// record and return the new value; they run inside a transaction and must not
// call the store.
type Store interface {
	// Ping reports whether the store can serve reads and writes.
	Ping(ctx context.Context) error
	Close() error

	CreateOrg(ctx context.Context, o Org) error // ErrExists
	GetOrg(ctx context.Context, id string) (Org, error)
	ListOrgs(ctx context.Context) ([]Org, error)

	CreateTenant(ctx context.Context, t Tenant) error // ErrExists (id within org); ErrNotFound (org)
	GetTenant(ctx context.Context, orgID, id string) (Tenant, error)
	ListTenants(ctx context.Context, orgID string) ([]Tenant, error)
	UpdateTenant(ctx context.Context, orgID, id string, fn func(Tenant) (Tenant, error)) (Tenant, error)
	DeleteTenant(ctx context.Context, orgID, id string) error // ErrConflict while users are bound to it

	// CreatePartner: ErrExists when the name (within the org) or consumer key is taken.
	CreatePartner(ctx context.Context, p Partner) error
	GetPartner(ctx context.Context, orgID, id string) (Partner, error)
	GetPartnerByConsumerKey(ctx context.Context, consumerKey string) (Partner, error)
	ListPartners(ctx context.Context, orgID string) ([]Partner, error)
	// UpdatePartner applies fn. When fn turns Active from true to false, the
	// sessions the partner signed in are deleted in the same transaction.
	// A rename onto another partner's name is ErrExists.
	UpdatePartner(ctx context.Context, orgID, id string, fn func(Partner) (Partner, error)) (Partner, error)
	// DeletePartner removes the partner, its keys and the sessions it signed in; users remain.
	DeletePartner(ctx context.Context, orgID, id string) error

	// CreateKey: ErrExists when the kid, or a non-empty Fingerprint (the same
	// public key), is already in the org, checked atomically with the write;
	// ErrNotFound (partner).
	CreateKey(ctx context.Context, k Key) error
	GetKey(ctx context.Context, orgID, kid string) (Key, error)
	ListKeys(ctx context.Context, orgID, partnerID string) ([]Key, error) // partnerID "" = every key of the org
	DeleteKey(ctx context.Context, orgID, kid string) error
	// SyncJWKSKeys applies fn to the partner and replaces the partner's
	// KeySourceJWKS keys by keys, in one transaction (fn's error aborts it with
	// nothing written; ErrNotFound without the partner). Each key is stored
	// with the partner's OrgID/PartnerID and KeySourceJWKS; one whose kid or
	// fingerprint another key of the organization holds (an upload, or another
	// partner's) is skipped. A key whose kid and DER are already stored keeps
	// its CreatedAt and LastUsedAt. It returns the partner and the keys stored.
	SyncJWKSKeys(ctx context.Context, orgID, partnerID string, keys []Key, fn func(Partner) (Partner, error)) (Partner, []Key, error)

	// CreateUser: ErrExists when the ID is taken or u.OrgID already has a
	// user with u.Email (the same email in another organization is no conflict).
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByEmail finds the user with the normalised email in one
	// organization; users of other organizations are never matched.
	GetUserByEmail(ctx context.Context, orgID, email string) (User, error)
	ListUsers(ctx context.Context, q UserQuery) (users []User, nextCursor string, err error)
	CountUsers(ctx context.Context, orgID, tenantID string) (int, error) // tenantID "" = whole org
	// CountPartnerUsers counts users whose PartnerID is partnerID (partner IDs
	// are globally unique); it reads the index max_users is enforced with.
	CountPartnerUsers(ctx context.Context, partnerID string) (int, error)
	// DeleteUser removes the user and every session of it.
	DeleteUser(ctx context.Context, id string) error

	// SignIn applies a SignInWrite atomically (see SignInWrite). ErrReplay when
	// the replay key is already recorded; errors from Provision are returned as is.
	// ListUsers/ListAudit: Limit <= 0 means no limit; a bad cursor is ErrInvalidCursor.
	SignIn(ctx context.Context, w SignInWrite) (User, error)
	// Revoke applies a RevokeWrite atomically (see RevokeWrite). ErrReplay
	// when the replay key is already recorded; errors from Check are returned as is.
	Revoke(ctx context.Context, w RevokeWrite) (RevokeResult, error)
	// ReplaySeen reports whether key is recorded and unexpired at now.
	ReplaySeen(ctx context.Context, key string, now time.Time) (bool, error)
	// RecordReplay records key; ErrReplay when it is already recorded and unexpired.
	RecordReplay(ctx context.Context, r Replay, now time.Time) error

	GetSession(ctx context.Context, id string) (Session, error)
	// GetSessionUser reads a session and its user as one consistent read:
	// forward-auth needs both on every check. An unknown session is
	// ErrNotFound with a zero Session; a session whose user is gone is
	// ErrNotFound with the Session filled in (so the caller can still tell
	// an expired one). A backend may answer from memory only while that
	// answer cannot be stale: after a write returns, no read may undo it.
	GetSessionUser(ctx context.Context, id string) (Session, User, error)
	DeleteSession(ctx context.Context, id string) error
	CountSessions(ctx context.Context, userID string, now time.Time) (int, error)
	CountActiveSessions(ctx context.Context, now time.Time) (int, error)

	CreateLoginToken(ctx context.Context, t LoginToken) error
	// ConsumeLoginToken deletes and returns the token; ErrNotFound when it is
	// unknown, already consumed or expired at now. Exactly one concurrent caller wins.
	ConsumeLoginToken(ctx context.Context, id string, now time.Time) (LoginToken, error)

	CreateAdminToken(ctx context.Context, t AdminToken) error
	GetAdminTokenByHash(ctx context.Context, hash string) (AdminToken, error)
	ListAdminTokens(ctx context.Context, orgID string) ([]AdminToken, error)
	DeleteAdminToken(ctx context.Context, orgID, id string) error
	TouchAdminToken(ctx context.Context, id string, at time.Time) error

	// AppendAudit assigns Seq, PrevHash and Hash and stores the event.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	ListAudit(ctx context.Context, q AuditQuery) (events []AuditEvent, nextCursor string, err error)
	// WalkAudit calls fn for every event in Seq order (for verify and export).
	WalkAudit(ctx context.Context, fn func(AuditEvent) error) error
	// PruneAudit deletes events older than before.
	PruneAudit(ctx context.Context, before time.Time) (int, error)

	// GetSigningKeys returns the assertion signing state; ErrNotFound before
	// the first key was made.
	GetSigningKeys(ctx context.Context) (SigningKeys, error)
	// UpdateSigningKeys applies fn atomically; fn gets nil when there is no
	// signing state yet. An error from fn is returned as is, nothing written.
	UpdateSigningKeys(ctx context.Context, fn func(*SigningKeys) (SigningKeys, error)) (SigningKeys, error)

	// Sweep deletes sessions, replay markers and login tokens expired at now.
	Sweep(ctx context.Context, now time.Time) (SweepResult, error)

	// Backup writes a consistent copy of the whole store to w.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}
