package storage

import "time"

// SigningKey is an ECDSA P-256 key that signs the downstream identity
// assertion (SPEC §4.6). The private half is sealed by app's key ring.
type SigningKey struct {
	Kid       string    `json:"kid"`
	Private   *Sealed   `json:"private"` // PKCS#8 DER, sealed
	Public    []byte    `json:"public"`  // PKIX (SPKI) DER
	CreatedAt time.Time `json:"created_at"`
}

// SigningKeys is the whole signing state, one record, so a rotation is one
// atomic swap that every instance sees at once.
type SigningKeys struct {
	Current SigningKey `json:"current"`
	// Previous is the key Current replaced, published until RotatedAt +
	// assertion_ttl + clock_skew so assertions it signed still verify.
	Previous  *SigningKey `json:"previous,omitempty"`
	RotatedAt time.Time   `json:"rotated_at,omitempty"`
	// SIDSecret keys the assertion's session identifier (sid); it is never
	// rotated, so a session's sid stays stable across key rotations.
	SIDSecret *Sealed `json:"sid_secret"`
}
