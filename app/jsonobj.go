package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// maxJSONDepth bounds nesting in token headers and payloads; legitimate
// tokens are flat, so anything deep is hostile.
const maxJSONDepth = 32

var (
	errNotObject     = errors.New("not a JSON object")
	errDuplicateName = errors.New("repeated member name")
	errTooDeep       = errors.New("JSON nested too deeply")
)

// decodeStrictObject parses b as one JSON object whose members (at every
// depth) have unique names. encoding/json alone would keep the last of two
// duplicates, letting a token mean different things to different parsers.
func decodeStrictObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, errNotObject
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	if err := scanObject(dec, 1); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject // trailing data after the object
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errNotObject
	}
	return m, nil
}

// scanObject consumes an object's members after its '{'.
func scanObject(dec *json.Decoder, depth int) error {
	if depth > maxJSONDepth {
		return errTooDeep
	}
	seen := map[string]struct{}{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errNotObject
		}
		name, ok := tok.(string)
		if !ok {
			return errNotObject
		}
		if _, dup := seen[name]; dup {
			return errDuplicateName
		}
		seen[name] = struct{}{}
		if err := scanValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return errNotObject
	}
	return nil
}

func scanValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errNotObject
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return scanObject(dec, depth+1)
	case '[':
		if depth+1 > maxJSONDepth {
			return errTooDeep
		}
		for dec.More() {
			if err := scanValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errNotObject
		}
	}
	return nil
}
