package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gatehouse/storage"
)

// PartnerInput registers a partner (absent policy = no restriction).
type PartnerInput struct {
	Name string `json:"name"`
	// JWKSURL: the partner publishes its keys there (SPEC §4.7).
	JWKSURL Field[string] `json:"jwks_url,omitzero"`
	PartnerPolicies
}

// PartnerPolicies are the opt-in policies; in a patch, absent leaves a field
// alone and null clears it.
type PartnerPolicies struct {
	AllowedEmailDomains Field[[]string] `json:"allowed_email_domains,omitzero"`
	AllowedSourceIPs    Field[[]string] `json:"allowed_source_ips,omitzero"`
	MaxUsers            Field[int]      `json:"max_users,omitzero"`
	AllowedRoles        Field[[]string] `json:"allowed_roles,omitzero"`
	AllowedTenants      Field[[]string] `json:"allowed_tenants,omitzero"`
	AllowedOrigins      Field[[]string] `json:"allowed_origins,omitzero"`
	UserProvisioning    Field[string]   `json:"user_provisioning,omitzero"`
}

// PartnerPatch changes a partner.
type PartnerPatch struct {
	Name Field[string] `json:"name,omitzero"`
	// JWKSURL: a URL fetches it at once and replaces the JWKS keys; null
	// clears it and removes every key that came from it.
	JWKSURL Field[string] `json:"jwks_url,omitzero"`
	PartnerPolicies
}

// Limits on policy lists, as GL IAM documents them.
const (
	maxPolicyEntries = 100
	maxPolicyEntry   = 2048
)

// validated policy values, ready to apply.
type policyValues struct {
	emailDomains, sourceIPs, roles, tenants, origins []string
	maxUsers                                         *int
	provisioning                                     string
}

func (s *Service) validatePolicies(ctx context.Context, orgID string, p PartnerPolicies) (policyValues, error) {
	var v policyValues
	var err error
	if v.emailDomains, err = policyList("allowed_email_domains", p.AllowedEmailDomains, func(d string) (string, bool) {
		d = strings.ToLower(strings.TrimSpace(d))
		return d, ValidDomain(d)
	}, "not a valid domain"); err != nil {
		return v, err
	}
	if v.sourceIPs, err = policyList("allowed_source_ips", p.AllowedSourceIPs, func(ip string) (string, bool) {
		pfx, err := parseIPOrPrefix(ip)
		if err != nil {
			return "", false
		}
		if strings.Contains(ip, "/") {
			return pfx.String(), true
		}
		return pfx.Addr().String(), true
	}, "not an IP or CIDR"); err != nil {
		return v, err
	}
	if v.roles, err = policyList("allowed_roles", p.AllowedRoles, func(r string) (string, bool) { return r, ValidRole(r) },
		"must be admin or readOnly"); err != nil {
		return v, err
	}
	if v.tenants, err = policyList("allowed_tenants", p.AllowedTenants, func(t string) (string, bool) { return t, ValidID(t) },
		"not a valid tenant id"); err != nil {
		return v, err
	}
	for i, t := range v.tenants {
		if _, err := s.store.GetTenant(ctx, orgID, t); errors.Is(err, storage.ErrNotFound) {
			return v, validation(indexed("allowed_tenants", i), "unknown tenant %s", t)
		} else if err != nil {
			return v, err
		}
	}
	if v.origins, err = policyList("allowed_origins", p.AllowedOrigins, normalizeOrigin,
		"not an http(s) origin (scheme://host[:port], no path or user info)"); err != nil {
		return v, err
	}
	if p.MaxUsers.Set && !p.MaxUsers.Null {
		if p.MaxUsers.Value < 0 {
			return v, validation("max_users", "must be 0 or more")
		}
		n := p.MaxUsers.Value
		v.maxUsers = &n
	}
	v.provisioning = ProvisioningJIT
	if p.UserProvisioning.Set && !p.UserProvisioning.Null {
		switch p.UserProvisioning.Value {
		case ProvisioningJIT, ProvisioningPreProvision, ProvisioningDisabled:
			v.provisioning = p.UserProvisioning.Value
		default:
			return v, validation("user_provisioning", "must be jit, pre_provisioned or disabled")
		}
	}
	return v, nil
}

// policyList validates a list policy: nil when absent or null (no
// restriction), else the cleaned entries (possibly empty: nothing allowed).
func policyList(field string, f Field[[]string], clean func(string) (string, bool), problem string) ([]string, error) {
	if !f.Set || f.Null {
		return nil, nil
	}
	if len(f.Value) > maxPolicyEntries {
		return nil, validation(field, "at most %d entries", maxPolicyEntries)
	}
	out := make([]string, 0, len(f.Value))
	for i, raw := range f.Value {
		if len(raw) > maxPolicyEntry {
			return nil, validation(indexed(field, i), "longer than %d characters", maxPolicyEntry)
		}
		c, ok := clean(raw)
		if !ok {
			return nil, validation(indexed(field, i), "%s", problem)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func normalizeOrigin(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || hasControlOrSpace(raw) {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

func applyPolicies(p *storage.Partner, in PartnerPolicies, v policyValues) {
	if in.AllowedEmailDomains.Set {
		p.AllowedEmailDomains = v.emailDomains
	}
	if in.AllowedSourceIPs.Set {
		p.AllowedSourceIPs = v.sourceIPs
	}
	if in.AllowedRoles.Set {
		p.AllowedRoles = v.roles
	}
	if in.AllowedTenants.Set {
		p.AllowedTenants = v.tenants
	}
	if in.AllowedOrigins.Set {
		p.AllowedOrigins = v.origins
	}
	if in.MaxUsers.Set {
		p.MaxUsers = v.maxUsers
	}
	if in.UserProvisioning.Set {
		p.UserProvisioning = v.provisioning
	}
}

// CreatePartner registers a partner and returns it with its consumer secret:
// the only time the secret is ever shown.
func (s *Service) CreatePartner(ctx context.Context, actor Actor, orgID string, in PartnerInput) (PartnerView, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return PartnerView{}, err
	}
	if s.ring == nil {
		return PartnerView{}, errors.New("no encryption key ring configured")
	}
	name, err := cleanName("name", in.Name, true)
	if err != nil {
		return PartnerView{}, err
	}
	vals, err := s.validatePolicies(ctx, orgID, in.PartnerPolicies)
	if err != nil {
		return PartnerView{}, err
	}
	var jwksURL string
	var jwksKeys []storage.Key
	var fetchedAt time.Time
	if in.JWKSURL.Set && !in.JWKSURL.Null {
		if jwksURL, err = s.checkJWKSURL(in.JWKSURL.Value); err != nil {
			return PartnerView{}, err
		}
		if jwksKeys, fetchedAt, err = s.fetchJWKSKeys(ctx, orgID, "", jwksURL); err != nil {
			return PartnerView{}, asJWKSValidation(err)
		}
	}
	id, err := newID(s.rand, "prt_")
	if err != nil {
		return PartnerView{}, err
	}
	ck, err := newID(s.rand, "ck_")
	if err != nil {
		return PartnerView{}, err
	}
	secret, err := newSecret(s.rand, "cs_")
	if err != nil {
		return PartnerView{}, err
	}
	sealed, err := s.ring.Seal([]byte(secret), []byte(id))
	if err != nil {
		return PartnerView{}, err
	}
	now := s.now().UTC()
	p := storage.Partner{ID: id, OrgID: orgID, Name: name, ConsumerKey: ck, Active: true,
		UserProvisioning: ProvisioningJIT, Secret: sealed, CreatedAt: now, UpdatedAt: now,
		JWKSURL: jwksURL, JWKSFetchedAt: fetchedAt}
	applyPolicies(&p, in.PartnerPolicies, vals)
	if err := s.store.CreatePartner(ctx, p); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return PartnerView{}, Errorf(CodePartnerAlreadyExists, "a partner named %q already exists in this organization", name)
		}
		return PartnerView{}, err
	}
	if jwksURL != "" {
		if err := s.storeFirstJWKS(ctx, p, jwksKeys); err != nil {
			return PartnerView{}, err
		}
	}
	view := partnerView(p, now)
	s.auditAdmin(ctx, actor, "partner.create", orgID, id, map[string]any{"after": view})
	view.ConsumerSecret = secret
	return view, nil
}

// ListPartners lists partners, optionally only active or inactive ones.
func (s *Service) ListPartners(ctx context.Context, actor Actor, orgID string, active *bool) ([]PartnerView, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return nil, err
	}
	ps, err := s.store.ListPartners(ctx, orgID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []PartnerView{}
	for _, p := range ps {
		if active == nil || p.Active == *active {
			out = append(out, partnerView(p, now))
		}
	}
	return out, nil
}

// GetPartner reads one partner (never its secret).
func (s *Service) GetPartner(ctx context.Context, actor Actor, orgID, id string) (PartnerView, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return PartnerView{}, err
	}
	p, err := s.store.GetPartner(ctx, orgID, id)
	if err != nil {
		return PartnerView{}, storeErr(err, "partner")
	}
	return partnerView(p, s.now()), nil
}

// UpdatePartner applies a patch; a patch that changes nothing writes nothing.
func (s *Service) UpdatePartner(ctx context.Context, actor Actor, orgID, id string, patch PartnerPatch) (PartnerView, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return PartnerView{}, err
	}
	var name string
	if patch.Name.Set {
		if patch.Name.Null {
			return PartnerView{}, validation("name", "cannot be null")
		}
		var err error
		if name, err = cleanName("name", patch.Name.Value, true); err != nil {
			return PartnerView{}, err
		}
	}
	vals, err := s.validatePolicies(ctx, orgID, patch.PartnerPolicies)
	if err != nil {
		return PartnerView{}, err
	}
	var jwksKeys *[]storage.Key // non-nil: the partner's JWKS keys become these
	var jwksURL string
	var fetchedAt time.Time
	if patch.JWKSURL.Set {
		keys := []storage.Key{}
		if !patch.JWKSURL.Null {
			if jwksURL, err = s.checkJWKSURL(patch.JWKSURL.Value); err != nil {
				return PartnerView{}, err
			}
			if _, err := s.store.GetPartner(ctx, orgID, id); err != nil {
				return PartnerView{}, storeErr(err, "partner")
			}
			if keys, fetchedAt, err = s.fetchJWKSKeys(ctx, orgID, id, jwksURL); err != nil {
				return PartnerView{}, asJWKSValidation(err)
			}
		}
		jwksKeys = &keys
	}
	view, err := s.changePartner(ctx, actor, orgID, id, "partner.update", jwksKeys, func(p *storage.Partner) error {
		if patch.Name.Set {
			p.Name = name
		}
		applyPolicies(p, patch.PartnerPolicies, vals)
		if patch.JWKSURL.Set {
			p.JWKSURL, p.JWKSFetchedAt = jwksURL, fetchedAt
			p.JWKSError, p.JWKSErrorAt, p.JWKSFailureAuditedAt = "", time.Time{}, time.Time{}
		}
		return nil
	})
	if err == nil && patch.JWKSURL.Set {
		s.keys.invalidate(orgID)
		if jwksURL == "" {
			s.jwks.forget(id)
		} else {
			s.jwks.noteFetch(id, s.now(), s.cfg.SSO.JWKSRefresh)
		}
	}
	return view, err
}

// DeactivatePartner refuses the partner's sign-ins and ends the sessions it
// signed in, in one write; ReactivatePartner undoes the refusal.
func (s *Service) DeactivatePartner(ctx context.Context, actor Actor, orgID, id string) (PartnerView, error) {
	return s.setPartnerActive(ctx, actor, orgID, id, false)
}

// ReactivatePartner lets a deactivated partner sign users in again.
func (s *Service) ReactivatePartner(ctx context.Context, actor Actor, orgID, id string) (PartnerView, error) {
	return s.setPartnerActive(ctx, actor, orgID, id, true)
}

func (s *Service) setPartnerActive(ctx context.Context, actor Actor, orgID, id string, active bool) (PartnerView, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return PartnerView{}, err
	}
	event := "partner.deactivate"
	if active {
		event = "partner.reactivate"
	}
	return s.changePartner(ctx, actor, orgID, id, event, nil, func(p *storage.Partner) error {
		p.Active = active
		return nil
	})
}

// changePartner runs one partner update and audits what changed. With
// jwksKeys, the partner's JWKS keys are replaced in the same transaction.
func (s *Service) changePartner(ctx context.Context, actor Actor, orgID, id, event string, jwksKeys *[]storage.Key, mutate func(*storage.Partner) error) (PartnerView, error) {
	now := s.now().UTC()
	var before storage.Partner
	update := func(fn func(storage.Partner) (storage.Partner, error)) (storage.Partner, error) {
		if jwksKeys == nil {
			return s.store.UpdatePartner(ctx, orgID, id, fn)
		}
		p, _, err := s.store.SyncJWKSKeys(ctx, orgID, id, *jwksKeys, fn)
		return p, err
	}
	p, err := update(func(p storage.Partner) (storage.Partner, error) {
		before = p
		if err := mutate(&p); err != nil {
			return p, err
		}
		if equalJSON(partnerView(before, now), partnerView(p, now)) {
			return p, errUnchanged
		}
		p.UpdatedAt = now
		return p, nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return partnerView(before, now), nil
	case errors.Is(err, storage.ErrExists):
		return PartnerView{}, Errorf(CodePartnerAlreadyExists, "a partner with that name already exists in this organization")
	case err != nil:
		return PartnerView{}, storeErr(err, "partner")
	}
	s.auditAdmin(ctx, actor, event, orgID, id, map[string]any{"changes": diffFields(partnerView(before, now), partnerView(p, now))})
	return partnerView(p, now), nil
}

// RotateResult is a new consumer secret, shown once.
type RotateResult struct {
	ConsumerSecret     string     `json:"consumer_secret"`
	PreviousValidUntil *time.Time `json:"previous_valid_until"`
}

// maxGracePeriod bounds how long an old secret keeps working after rotation.
const maxGracePeriod = 7 * 24 * time.Hour

// DefaultRotateGrace is how long the old consumer secret keeps working when
// a rotation names no grace period, the same in the API, the CLI and the
// console: long enough for a partner to deploy the new secret, so a
// rotation without arguments never cuts a partner off at once. An explicit
// 0 ends the old secret immediately (for a leaked secret).
const DefaultRotateGrace = 24 * time.Hour

// RotateSecret gives the partner a new consumer secret; the old one keeps
// working for grace (0 = ends now). The consumer key stays.
func (s *Service) RotateSecret(ctx context.Context, actor Actor, orgID, id string, grace time.Duration) (RotateResult, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return RotateResult{}, err
	}
	if grace < 0 || grace > maxGracePeriod {
		return RotateResult{}, validation("grace_period_seconds", "must be between 0 and 604800")
	}
	if s.ring == nil {
		return RotateResult{}, errors.New("no encryption key ring configured")
	}
	secret, err := newSecret(s.rand, "cs_")
	if err != nil {
		return RotateResult{}, err
	}
	sealed, err := s.ring.Seal([]byte(secret), []byte(id))
	if err != nil {
		return RotateResult{}, err
	}
	now := s.now().UTC()
	until := now.Add(grace)
	_, err = s.store.UpdatePartner(ctx, orgID, id, func(p storage.Partner) (storage.Partner, error) {
		p.PreviousSecret, p.PreviousValidUntil = nil, time.Time{}
		if grace > 0 {
			p.PreviousSecret, p.PreviousValidUntil = p.Secret, until
		}
		p.Secret = sealed
		p.UpdatedAt = now
		return p, nil
	})
	if err != nil {
		return RotateResult{}, storeErr(err, "partner")
	}
	s.auditAdmin(ctx, actor, "partner.rotate_secret", orgID, id, map[string]any{"grace_period_seconds": int(grace / time.Second), "consumer_secret": "[redacted]"})
	res := RotateResult{ConsumerSecret: secret}
	if grace > 0 {
		res.PreviousValidUntil = &until
	}
	return res, nil
}

// DeletePartner removes a partner, its keys and secret, and ends the sessions
// it signed in; its users remain.
func (s *Service) DeletePartner(ctx context.Context, actor Actor, orgID, id string) error {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return err
	}
	before, err := s.store.GetPartner(ctx, orgID, id)
	if err != nil {
		return storeErr(err, "partner")
	}
	if err := s.store.DeletePartner(ctx, orgID, id); err != nil {
		return storeErr(err, "partner")
	}
	s.keys.invalidate(orgID)
	s.jwks.forget(id)
	s.auditAdmin(ctx, actor, "partner.delete", orgID, id, map[string]any{"before": partnerView(before, s.now())})
	return nil
}

// Rekey re-seals every partner secret under the newest key version, so older
// versions can be retired. It returns how many partners were re-sealed.
func (s *Service) Rekey(ctx context.Context, actor Actor) (int, error) {
	if !actor.fullRights() {
		return 0, Errorf(CodeForbidden, "rekey is an operator operation")
	}
	if s.ring == nil {
		return 0, errors.New("no encryption key ring configured")
	}
	orgs, err := s.store.ListOrgs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range orgs {
		ps, err := s.store.ListPartners(ctx, o.ID)
		if err != nil {
			return n, err
		}
		for _, p := range ps {
			changed := false
			_, err := s.store.UpdatePartner(ctx, o.ID, p.ID, func(p storage.Partner) (storage.Partner, error) {
				for _, slot := range []**storage.Sealed{&p.Secret, &p.PreviousSecret} {
					if *slot == nil || (*slot).Version == s.ring.Newest() {
						continue
					}
					plain, err := s.ring.Open(*slot, []byte(p.ID))
					if err != nil {
						return p, err
					}
					if *slot, err = s.ring.Seal(plain, []byte(p.ID)); err != nil {
						return p, err
					}
					changed = true
				}
				if !changed {
					return p, errUnchanged
				}
				return p, nil
			})
			if err != nil && !errors.Is(err, errUnchanged) {
				return n, fmt.Errorf("rekey partner %s: %w", p.ID, err)
			}
			if changed {
				n++
			}
		}
	}
	signing, err := s.resealSigningKeys(ctx)
	if err != nil {
		return n, fmt.Errorf("rekey assertion signing keys: %w", err)
	}
	s.auditAdmin(ctx, actor, "crypto.rekey", "", "partners", map[string]any{"resealed": n, "version": s.ring.Newest(), "signing_keys_resealed": signing})
	return n, nil
}
