package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Field is a JSON member that may be absent (Set false), null (Null true) or
// a value. PATCH needs all three: absent leaves a field alone, null clears a
// restriction, a value sets it.
type Field[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// Val is a Field set to v.
func Val[T any](v T) Field[T] { return Field[T]{Set: true, Value: v} }

// Null is a Field set to JSON null.
func Null[T any]() Field[T] { return Field[T]{Set: true, Null: true} }

// UnmarshalJSON records presence; encoding/json calls it for null too.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		f.Null = true
		return nil
	}
	return json.Unmarshal(b, &f.Value)
}

// MarshalJSON writes null or the value; absent fields are dropped by omitzero.
func (f Field[T]) MarshalJSON() ([]byte, error) {
	if f.Null || !f.Set {
		return []byte("null"), nil
	}
	return json.Marshal(f.Value)
}

// IsZero lets `json:",omitzero"` drop absent fields.
func (f Field[T]) IsZero() bool { return !f.Set }

// DecodeJSON decodes an admin request body strictly: unknown members and
// wrongly typed values are validation errors naming the field.
func DecodeJSON(body []byte, into any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			field := jsonFieldPath(typeErr.Field)
			if field == "" {
				return Errorf(CodeValidation, "body must be a JSON object")
			}
			return validation(field, "must be %s", jsonKind(typeErr.Type.String()))
		case errors.As(err, &syntaxErr):
			return Errorf(CodeValidation, "body is not valid JSON (at byte %d)", syntaxErr.Offset)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return validation(name, "unknown field")
		}
		return Errorf(CodeValidation, "body is not valid JSON")
	}
	if dec.More() {
		return Errorf(CodeValidation, "body must hold one JSON object")
	}
	return nil
}

// jsonFieldPath drops embedded Go struct names ("PartnerPolicies.") that
// encoding/json puts in front of the member name a client actually sent.
func jsonFieldPath(path string) string {
	parts := strings.Split(path, ".")
	for len(parts) > 1 && parts[0] != "" && parts[0][0] >= 'A' && parts[0][0] <= 'Z' {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "[]string"):
		return "a list of strings"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.Contains(goType, "bool"):
		return "true or false"
	}
	return fmt.Sprintf("of type %s", goType)
}
