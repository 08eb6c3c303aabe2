package app

import (
	"context"
	"time"

	"gatehouse/storage"
)

// Admin is what the terminal console needs: the administrative operations,
// with the service's own signatures. *Service satisfies it in-process (the
// console opened the database itself) and web/client.Client satisfies it over
// the admin socket (a server owns the database), so the console never knows
// which one it has and no rule is written twice. Over the socket the actor
// argument is ignored: whoever can open the socket is the operator.
type Admin interface {
	// Health reports the database, the encryption keys and the version.
	Health(ctx context.Context) (Health, error)

	CreateOrg(ctx context.Context, actor Actor, in OrgInput) (storage.Org, error)
	ListOrgs(ctx context.Context, actor Actor) ([]storage.Org, error)

	CreateTenant(ctx context.Context, actor Actor, orgID string, in TenantInput) (TenantView, error)
	ListTenants(ctx context.Context, actor Actor, orgID string) ([]TenantView, error)
	UpdateTenant(ctx context.Context, actor Actor, orgID, id string, p TenantPatch) (TenantView, error)
	DeleteTenant(ctx context.Context, actor Actor, orgID, id string) error

	CreatePartner(ctx context.Context, actor Actor, orgID string, in PartnerInput) (PartnerView, error)
	ListPartners(ctx context.Context, actor Actor, orgID string, active *bool) ([]PartnerView, error)
	GetPartner(ctx context.Context, actor Actor, orgID, id string) (PartnerView, error)
	UpdatePartner(ctx context.Context, actor Actor, orgID, id string, p PartnerPatch) (PartnerView, error)
	DeactivatePartner(ctx context.Context, actor Actor, orgID, id string) (PartnerView, error)
	ReactivatePartner(ctx context.Context, actor Actor, orgID, id string) (PartnerView, error)
	RotateSecret(ctx context.Context, actor Actor, orgID, id string, grace time.Duration) (RotateResult, error)
	DeletePartner(ctx context.Context, actor Actor, orgID, id string) error

	AddKey(ctx context.Context, actor Actor, orgID, partnerID string, in KeyInput) (KeyView, error)
	ListKeys(ctx context.Context, actor Actor, orgID, partnerID string) ([]KeyView, error)
	DeleteKey(ctx context.Context, actor Actor, orgID, partnerID, kid string) error

	ListUsers(ctx context.Context, actor Actor, orgID, q, tenantID string, limit int, cursor string) (UserList, error)
	GetUser(ctx context.Context, actor Actor, orgID, id string) (UserView, error)
	DeleteUser(ctx context.Context, actor Actor, orgID, id string) error

	ListAudit(ctx context.Context, actor Actor, orgID string, f AuditFilter) (AuditList, error)
	TokenCheck(ctx context.Context, actor Actor, orgID string, in TokenCheckInput) (TokenCheckResult, error)

	CreateAdminToken(ctx context.Context, actor Actor, orgID string, in AdminTokenInput) (AdminTokenView, error)
	ListAdminTokens(ctx context.Context, actor Actor, orgID string) ([]AdminTokenView, error)
	RevokeAdminToken(ctx context.Context, actor Actor, orgID, id string) error
}

var _ Admin = (*Service)(nil)

// Health is the admin API's health answer (GET /api/v1/health).
type Health struct {
	Status         string `json:"status"`
	Database       string `json:"database"`
	EncryptionKeys string `json:"encryption_keys"`
	Version        string `json:"version"`
}

// Health checks the database and the key ring; a failed check is reported in
// the answer, not as an error.
func (s *Service) Health(ctx context.Context) (Health, error) {
	h := Health{Status: "ok", Database: "ok", EncryptionKeys: "ok", Version: s.version}
	if err := s.Ready(ctx); err != nil {
		s.log.Error("health: not ready", "err", err)
		h.Status, h.Database, h.EncryptionKeys = "error", "error", "error"
	}
	return h, nil
}
