package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// HashEvent is the audit chain's link: SHA-256 over the event's canonical JSON
// with Hash cleared, which covers PrevHash and so every event before it.
// Backends call it in AppendAudit; `gatehouse audit verify` recomputes it.
//
// Details are hashed in their JSON round-trip form (nested structs become
// maps with sorted keys, numbers float64), which is what a backend that stores
// JSON hands back, so a hash computed at append time still matches when the
// stored event is read and verified.
func HashEvent(e AuditEvent) (string, error) {
	e.Hash = ""
	if err := CanonicalizeDetails(&e); err != nil {
		return "", fmt.Errorf("hash audit event: %w", err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("hash audit event: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// CanonicalizeDetails replaces e.Details with its JSON round-trip form, the
// form HashEvent hashes. A backend that canonicalises before its write path
// can hash the bytes it stores, marshalling each event once.
func CanonicalizeDetails(e *AuditEvent) error {
	if e.Details == nil {
		return nil
	}
	raw, err := json.Marshal(e.Details)
	if err != nil {
		return err
	}
	var canon map[string]any
	if err := json.Unmarshal(raw, &canon); err != nil {
		return err
	}
	e.Details = canon
	return nil
}
