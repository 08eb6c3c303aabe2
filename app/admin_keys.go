package app

import (
	"context"
	"errors"
	"strings"

	"gatehouse/storage"
)

// KeyInput uploads a partner's public key.
type KeyInput struct {
	PEM   string `json:"pem"`
	Label string `json:"label,omitempty"`
	Kid   string `json:"kid,omitempty"`
}

// AddKey stores a partner's RSA public key; kid defaults to its RFC 7638 thumbprint.
func (s *Service) AddKey(ctx context.Context, actor Actor, orgID, partnerID string, in KeyInput) (KeyView, error) {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return KeyView{}, err
	}
	if _, err := s.store.GetPartner(ctx, orgID, partnerID); err != nil {
		return KeyView{}, storeErr(err, "partner")
	}
	if strings.TrimSpace(in.PEM) == "" {
		return KeyView{}, validation("pem", "is required")
	}
	if len(in.PEM) > 16384 {
		return KeyView{}, validation("pem", "too large for a public key")
	}
	pk, err := ParsePublicKeyPEM(in.PEM)
	if err != nil {
		return KeyView{}, validation("pem", "%s", err.Error())
	}
	label, err := cleanName("label", in.Label, false)
	if err != nil {
		return KeyView{}, err
	}
	kid := in.Kid
	if kid == "" {
		kid = pk.Thumbprint
	} else if !ValidKid(kid) {
		return KeyView{}, validation("kid", "must be 1–128 of A–Z a–z 0–9 . _ ~ - (so the key can be addressed, and deleted, by its URL path)")
	}
	existing, err := s.store.ListKeys(ctx, orgID, "")
	if err != nil {
		return KeyView{}, err
	}
	for _, e := range existing {
		switch {
		case e.Kid == kid:
			return KeyView{}, Errorf(CodeConflict, "a key with kid %s already exists in this organization", kid)
		case e.Fingerprint == pk.Fingerprint:
			return KeyView{}, Errorf(CodeConflict, "this public key is already registered in this organization as kid %s of partner %s (one key, one owner)", e.Kid, e.PartnerID)
		}
	}
	k := storage.Key{Kid: kid, OrgID: orgID, PartnerID: partnerID, Fingerprint: pk.Fingerprint, Bits: pk.Bits,
		Label: label, DER: pk.DER, Source: storage.KeySourcePEM, CreatedAt: s.now().UTC()}
	// The store checks kid and public key again, atomically with the write:
	// the list above only words the common case's message.
	if err := s.store.CreateKey(ctx, k); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return KeyView{}, Errorf(CodeConflict, "a key with kid %s, or this public key, already exists in this organization", kid)
		}
		return KeyView{}, storeErr(err, "partner")
	}
	s.keys.invalidate(orgID)
	s.auditAdmin(ctx, actor, "key.add", orgID, kid, map[string]any{"partner_id": partnerID, "after": keyView(k)})
	return keyView(k), nil
}

// ValidKid reports whether a kid given at upload is 1–128 of the URL path's
// unreserved characters (RFC 3986: A–Z a–z 0–9 . _ ~ -): such a kid needs no
// escaping, so every key can be addressed, and deleted, by its path. The
// default kid, an RFC 7638 thumbprint in base64url, is of this alphabet too.
// "." and ".." are refused as well: clients and proxies resolve them as dot
// segments, so no URL could name such a key.
func ValidKid(kid string) bool {
	if kid == "" || len(kid) > 128 || kid == "." || kid == ".." {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

// ListKeys lists a partner's keys.
func (s *Service) ListKeys(ctx context.Context, actor Actor, orgID, partnerID string) ([]KeyView, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return nil, err
	}
	if _, err := s.store.GetPartner(ctx, orgID, partnerID); err != nil {
		return nil, storeErr(err, "partner")
	}
	ks, err := s.store.ListKeys(ctx, orgID, partnerID)
	if err != nil {
		return nil, err
	}
	out := make([]KeyView, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyView(k))
	}
	return out, nil
}

// DeleteKey removes a partner key; tokens signed with it stop verifying at once.
func (s *Service) DeleteKey(ctx context.Context, actor Actor, orgID, partnerID, kid string) error {
	if err := s.permit(ctx, actor, orgID, adminAccess); err != nil {
		return err
	}
	k, err := s.store.GetKey(ctx, orgID, kid)
	if err != nil || k.PartnerID != partnerID {
		return notFound("key")
	}
	if k.Source == storage.KeySourceJWKS {
		return Errorf(CodeConflict, "key %s comes from the partner's jwks_url and is replaced with it on every refresh: "+
			"remove it from the published set, or clear jwks_url (PATCH {\"jwks_url\": null}) to drop every key from it", kid)
	}
	if err := s.store.DeleteKey(ctx, orgID, kid); err != nil {
		return storeErr(err, "key")
	}
	s.keys.invalidate(orgID)
	s.auditAdmin(ctx, actor, "key.delete", orgID, kid, map[string]any{"partner_id": partnerID, "before": keyView(k)})
	return nil
}
