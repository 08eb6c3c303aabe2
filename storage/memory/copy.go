package memory

import (
	"encoding/json"
	"fmt"
	"slices"

	"gatehouse/storage"
)

// The clone functions copy every reference field of a record. slices.Clone
// keeps nil as nil and empty as empty, which the partner policy fields rely on.

func cloneTenant(t storage.Tenant) storage.Tenant {
	t.AllowedReturnURLs = slices.Clone(t.AllowedReturnURLs)
	return t
}

func clonePartner(p storage.Partner) storage.Partner {
	p.AllowedEmailDomains = slices.Clone(p.AllowedEmailDomains)
	p.AllowedSourceIPs = slices.Clone(p.AllowedSourceIPs)
	p.AllowedRoles = slices.Clone(p.AllowedRoles)
	p.AllowedTenants = slices.Clone(p.AllowedTenants)
	p.AllowedOrigins = slices.Clone(p.AllowedOrigins)
	if p.MaxUsers != nil {
		n := *p.MaxUsers
		p.MaxUsers = &n
	}
	p.Secret = cloneSealed(p.Secret)
	p.PreviousSecret = cloneSealed(p.PreviousSecret)
	return p
}

func cloneSealed(s *storage.Sealed) *storage.Sealed {
	if s == nil {
		return nil
	}
	c := *s
	c.Nonce = slices.Clone(s.Nonce)
	c.Ciphertext = slices.Clone(s.Ciphertext)
	return &c
}

func cloneKey(k storage.Key) storage.Key {
	k.DER = slices.Clone(k.DER)
	return k
}

// cloneEvent copies an event whose Details are already normalised (see
// normaliseDetails), so the only reference types left are maps and slices of
// JSON values.
func cloneEvent(e storage.AuditEvent) storage.AuditEvent {
	if e.Details != nil {
		e.Details = cloneJSON(e.Details).(map[string]any)
	}
	return e
}

func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = cloneJSON(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = cloneJSON(x)
		}
		return s
	default:
		return v
	}
}

// normaliseDetails round-trips Details through JSON. That is a deep copy of
// arbitrary caller values, and it gives readers the shapes a serialising
// backend returns, so code tested against this store does not break on bolt
// (an int put in comes back as float64 from both).
func normaliseDetails(d map[string]any) (map[string]any, error) {
	if d == nil {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode audit details: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode audit details: %w", err)
	}
	return out, nil
}
