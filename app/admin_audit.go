package app

import (
	"context"
	"encoding/json"
	"reflect"

	"gatehouse/storage"
)

// change is one field's before/after in an admin audit event.
type change struct {
	Before any `json:"before"`
	After  any `json:"after"`
}

// diffFields compares two views field by field (by JSON name) so audit
// events record exactly what changed. Views hold no secrets, so neither can this.
func diffFields(before, after any) map[string]any {
	out := map[string]any{}
	bv, av := reflect.ValueOf(before), reflect.ValueOf(after)
	if bv.Kind() != reflect.Struct || bv.Type() != av.Type() {
		return out
	}
	t := bv.Type()
	for i := 0; i < t.NumField(); i++ {
		name := jsonName(t.Field(i))
		if name == "" || name == "updated_at" {
			continue
		}
		b, a := bv.Field(i).Interface(), av.Field(i).Interface()
		if !reflect.DeepEqual(b, a) {
			out[name] = change{Before: b, After: a}
		}
	}
	return out
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return ""
	}
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			tag = tag[:i]
			break
		}
	}
	if tag == "" {
		return f.Name
	}
	return tag
}

// auditAdmin appends an administrative event. Failing to audit fails the
// request's answer only in the log: the change itself is already durable.
func (s *Service) auditAdmin(ctx context.Context, actor Actor, typ, orgID, target string, details map[string]any) {
	id, _ := newID(s.rand, "evt_")
	if details == nil {
		details = map[string]any{}
	}
	details["target"] = target
	details = canonicalDetails(details)
	e := storage.AuditEvent{
		ID: id, Time: s.now(), Type: typ, Actor: actor.String(), Outcome: "success", OrgID: orgID, Details: details,
		RequestID: actor.RequestID,
	}
	if _, err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit append failed", "type", typ, "err", err)
	}
}

// canonicalDetails turns details into plain JSON values (views become maps)
// and redacts anything under a secret-looking key, so whatever a caller
// passes, no secret reaches the append-only log.
func canonicalDetails(details map[string]any) map[string]any {
	raw, err := json.Marshal(details)
	if err != nil {
		return map[string]any{"target": details["target"], "error": "details could not be encoded"}
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return map[string]any{"target": details["target"], "error": "details could not be encoded"}
	}
	redactSecrets(out)
	return out
}
