package app

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"gatehouse/storage"
)

// UserInput pre-provisions a Partner SSO user or creates a non-SSO user.
type UserInput struct {
	Email      string `json:"email"`
	Name       string `json:"name,omitempty"`
	TenantID   string `json:"tenant_id"`
	Role       string `json:"role"`
	PartnerSSO bool   `json:"partner_sso"`
	PartnerID  string `json:"partner_id,omitempty"`
}

// UserList is a page of users.
type UserList struct {
	Users      []UserView `json:"users"`
	NextCursor string     `json:"next_cursor"`
}

// List limits (SPEC §5).
const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// ParseLimit reads a list's limit parameter ("" = default).
func ParseLimit(raw string) (int, error) {
	if raw == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, validation("limit", "must be between 1 and %d", maxListLimit)
	}
	return n, nil
}

// CreateUser adds a user to a tenant.
func (s *Service) CreateUser(ctx context.Context, actor Actor, orgID string, in UserInput) (UserView, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return UserView{}, err
	}
	email, ok := NormalizeEmail(in.Email)
	if !ok {
		return UserView{}, validation("email", "not a valid email address")
	}
	name, err := cleanName("name", in.Name, false)
	if err != nil {
		return UserView{}, err
	}
	if !ValidRole(in.Role) {
		return UserView{}, validation("role", "must be admin or readOnly")
	}
	if in.TenantID == "" {
		return UserView{}, validation("tenant_id", "is required")
	}
	if _, err := s.store.GetTenant(ctx, orgID, in.TenantID); errors.Is(err, storage.ErrNotFound) {
		return UserView{}, validation("tenant_id", "unknown tenant %s", in.TenantID)
	} else if err != nil {
		return UserView{}, err
	}
	if in.PartnerID != "" {
		if !in.PartnerSSO {
			return UserView{}, validation("partner_id", "only Partner SSO users have a partner")
		}
		if _, err := s.store.GetPartner(ctx, orgID, in.PartnerID); errors.Is(err, storage.ErrNotFound) {
			return UserView{}, validation("partner_id", "unknown partner %s", in.PartnerID)
		} else if err != nil {
			return UserView{}, err
		}
	}
	id, err := newTimeID(s.rand, "usr_", s.now())
	if err != nil {
		return UserView{}, err
	}
	u := storage.User{ID: id, Email: email, Name: name, OrgID: orgID, TenantID: in.TenantID, Role: in.Role,
		PartnerSSO: in.PartnerSSO, PartnerID: in.PartnerID, CreatedAt: s.now().UTC()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return UserView{}, Errorf(CodeConflict, "a user with email %s already exists in this organization", email)
		}
		if errors.Is(err, storage.ErrNoTenant) { // deleted since it was read above
			return UserView{}, validation("tenant_id", "unknown tenant %s", in.TenantID)
		}
		return UserView{}, err
	}
	view := NewUserView(u)
	s.auditAdmin(ctx, actor, "user.create", orgID, id, map[string]any{"after": view})
	return view, nil
}

// ListUsers pages through an organization's users, ordered by email.
func (s *Service) ListUsers(ctx context.Context, actor Actor, orgID, q, tenantID string, limit int, cursor string) (UserList, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return UserList{}, err
	}
	if limit < 1 || limit > maxListLimit {
		return UserList{}, validation("limit", "must be between 1 and %d", maxListLimit)
	}
	users, next, err := s.store.ListUsers(ctx, storage.UserQuery{OrgID: orgID, Q: strings.TrimSpace(q), TenantID: tenantID, Limit: limit, Cursor: cursor})
	if err != nil {
		return UserList{}, storeErr(err, "user")
	}
	out := UserList{Users: make([]UserView, 0, len(users)), NextCursor: next}
	for _, u := range users {
		out.Users = append(out.Users, NewUserView(u))
	}
	return out, nil
}

// GetUser reads one user with its count of active sessions.
func (s *Service) GetUser(ctx context.Context, actor Actor, orgID, id string) (UserView, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return UserView{}, err
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil || u.OrgID != orgID {
		return UserView{}, notFound("user")
	}
	n, err := s.store.CountSessions(ctx, id, s.now())
	if err != nil {
		return UserView{}, err
	}
	v := NewUserView(u)
	v.Sessions = &n
	return v, nil
}

// DeleteUser removes a user and ends its sessions at once (organization admin only).
func (s *Service) DeleteUser(ctx context.Context, actor Actor, orgID, id string) error {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil || u.OrgID != orgID {
		return notFound("user")
	}
	if err := s.store.DeleteUser(ctx, id); err != nil {
		return storeErr(err, "user")
	}
	s.auditAdmin(ctx, actor, "user.delete", orgID, id, map[string]any{"before": NewUserView(u)})
	return nil
}
