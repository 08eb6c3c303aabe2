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
func HashEvent(e AuditEvent) (string, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("hash audit event: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
