package app

import (
	"crypto/rsa"
	"fmt"
	"time"
)

// RevokeClaims are what a partner portal puts in a revoke token (SPEC §4.5).
type RevokeClaims struct {
	OrganizationID string `json:"organizationId"`
	Email          string `json:"email"`
	Action         string `json:"action"`
	Exp            int64  `json:"exp"`
	Iat            int64  `json:"iat"`
	JTI            string `json:"jti"`
}

// NewRevokeClaims fills exp, iat and a fresh jti for a revoke token valid for
// ttl from now; the action must be logout or deprovision.
func NewRevokeClaims(org, email, action string, now time.Time, ttl time.Duration) (RevokeClaims, error) {
	if action != ActionLogout && action != ActionDeprovision {
		return RevokeClaims{}, fmt.Errorf("action must be %s or %s, not %q", ActionLogout, ActionDeprovision, action)
	}
	jti, err := newID(defaultRandom, "rv_")
	if err != nil {
		return RevokeClaims{}, err
	}
	return RevokeClaims{OrganizationID: org, Email: email, Action: action,
		Exp: now.Add(ttl).Unix(), Iat: now.Unix(), JTI: jti}, nil
}

// SignRevokeToken signs revoke claims as a compact RS256 JWS (used by
// `gatehouse sign --action` and tests).
func SignRevokeToken(priv *rsa.PrivateKey, kid string, claims RevokeClaims) (string, error) {
	return signRS256(priv, kid, claims)
}
