package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"gatehouse/storage"
)

// Admin token values are "gha_" + base64url of 32 random bytes (256 bits).
// Only their SHA-256 is stored, so the database never holds a usable token.
const (
	adminTokenPrefix = "gha_"
	adminTokenLen    = len(adminTokenPrefix) + 43
	// adminTouchEvery bounds how often a token's last use is written.
	adminTouchEvery = time.Minute
)

// AdminTokenInput creates an admin token.
type AdminTokenInput struct {
	Role  string `json:"role"`
	Label string `json:"label"`
}

// AdminTokenView is an admin token as the API shows it: never its value or hash.
type AdminTokenView struct {
	ID         string     `json:"id"`
	OrgID      string     `json:"org_id"`
	Role       string     `json:"role"`
	Label      string     `json:"label"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	// Token is set only in the answer to creation: the one time it is shown.
	Token string `json:"token,omitempty"`
}

func adminTokenView(t storage.AdminToken) AdminTokenView {
	return AdminTokenView{ID: t.ID, OrgID: t.OrgID, Role: t.Role, Label: t.Label, CreatedAt: t.CreatedAt, LastUsedAt: optTime(t.LastUsedAt)}
}

// CreateAdminToken issues a bearer token for the organization's TCP admin
// API. The value is returned once and stored only as a hash.
func (s *Service) CreateAdminToken(ctx context.Context, actor Actor, orgID string, in AdminTokenInput) (AdminTokenView, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return AdminTokenView{}, err
	}
	if !ValidRole(in.Role) {
		return AdminTokenView{}, validation("role", "must be admin or readOnly")
	}
	label, err := cleanName("label", in.Label, false)
	if err != nil {
		return AdminTokenView{}, err
	}
	id, err := newID(s.rand, "tok_")
	if err != nil {
		return AdminTokenView{}, err
	}
	value, err := newSecret(s.rand, adminTokenPrefix)
	if err != nil {
		return AdminTokenView{}, err
	}
	t := storage.AdminToken{ID: id, OrgID: orgID, Role: in.Role, Label: label, Hash: hashSecret(value), CreatedAt: s.now().UTC()}
	if err := s.store.CreateAdminToken(ctx, t); err != nil {
		return AdminTokenView{}, storeErr(err, "admin token")
	}
	view := adminTokenView(t)
	s.auditAdmin(ctx, actor, "admin_token.create", orgID, id, map[string]any{"after": view})
	view.Token = value
	return view, nil
}

// ListAdminTokens lists an organization's admin tokens (without values).
func (s *Service) ListAdminTokens(ctx context.Context, actor Actor, orgID string) ([]AdminTokenView, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return nil, err
	}
	ts, err := s.store.ListAdminTokens(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]AdminTokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, adminTokenView(t))
	}
	return out, nil
}

// RevokeAdminToken deletes a token; the next request bearing it is refused
// (nothing caches tokens).
func (s *Service) RevokeAdminToken(ctx context.Context, actor Actor, orgID, id string) error {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return err
	}
	var before *storage.AdminToken
	if ts, err := s.store.ListAdminTokens(ctx, orgID); err == nil {
		for i := range ts {
			if ts[i].ID == id {
				before = &ts[i]
			}
		}
	}
	if err := s.store.DeleteAdminToken(ctx, orgID, id); err != nil {
		return storeErr(err, "admin token")
	}
	details := map[string]any{}
	if before != nil {
		details["before"] = adminTokenView(*before)
	}
	s.auditAdmin(ctx, actor, "admin_token.revoke", orgID, id, details)
	return nil
}

// errBadAdminToken is the one answer for a missing, malformed, unknown or
// revoked bearer token, so the answer reveals nothing about which.
var errBadAdminToken = &Error{Code: CodeUnauthorized, Message: "a valid admin token is required (Authorization: Bearer <token>)"}

// dummyAdminTokenHash is looked up when no usable value was given, so an
// absent token costs the same hash and store lookup as a wrong one.
var dummyAdminTokenHash = hashSecret(adminTokenPrefix + "absent-token-timing-equaliser")

// AuthenticateAdminToken resolves an Authorization header value ("Bearer
// <token>", or the bare token) to the token's actor. Every failure does the
// same work — one SHA-256 and one index lookup by hash — whether the header
// was absent, malformed or simply wrong; comparing hashes by index lookup
// leaks nothing usable about the value.
func (s *Service) AuthenticateAdminToken(ctx context.Context, header string) (Actor, error) {
	value := strings.TrimSpace(header)
	if len(value) > 7 && strings.EqualFold(value[:7], "bearer ") {
		value = strings.TrimSpace(value[7:])
	}
	hash := dummyAdminTokenHash
	wellFormed := len(value) == adminTokenLen && strings.HasPrefix(value, adminTokenPrefix)
	if wellFormed {
		hash = hashSecret(value)
	} else {
		_ = hashSecret(value[:min(len(value), adminTokenLen)])
	}
	t, err := s.store.GetAdminTokenByHash(ctx, hash)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Actor{}, err
	}
	if err != nil || !wellFormed {
		return Actor{}, errBadAdminToken
	}
	now := s.now()
	if last, ok := s.adminTouch.Load(t.ID); !ok || now.Sub(last.(time.Time)) >= adminTouchEvery {
		s.adminTouch.Store(t.ID, now)
		if err := s.store.TouchAdminToken(ctx, t.ID, now.UTC()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("record admin token use", "token", t.ID, "err", err)
		}
	}
	return Actor{Kind: ActorToken, OrgID: t.OrgID, Role: t.Role, TokenID: t.ID}, nil
}
