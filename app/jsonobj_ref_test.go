package app

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// FuzzDecodeStrictObject checks the one-pass strict parser against the
// encoding/json.Decoder implementation it replaced (kept below as the
// reference): the same error for every input, and for accepted input the
// same members with byte-identical raw values.
func FuzzDecodeStrictObject(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"b":1,"b":2}}`,
		`{"a":[{"b":1},{"b":1}]}`, `{"a":[{"b":1,"b":2}]}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":1 "b":2}`,
		`{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":1e+5,"b":-0.5E-7}`, `{"a":truex}`, `{"a":nul}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`, "{\"a\":\"\x01\"}", "{\"a\xff\":1,\"a\xfe\":2}",
		"{\"é\":1,\"\\u00e9\":2}", `{"a":1} x`, `{"a":1}{}`, `[]`, `"x"`, ``, "\xef\xbb\xbf{}",
		`{"a":1,"a":` + "\x01", `{"a":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`,
		`{"a":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`,
		`{"a":` + strings.Repeat(`{"a":`, 30) + `1` + strings.Repeat("}", 30) + `}`,
		`{"a":` + strings.Repeat(`{"a":`, 31) + `1` + strings.Repeat("}", 31) + `}`,
		`{"alg":"RS256","typ":"JWT","kid":"k1"}`,
		`{"organizationId":"acme","tenantId":"t1","role":"admin","email":"a@b.co","exp":1e10,"nested":{"x":[1,{"y":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := decodeStrictObjectReference(bytes.Clone(b))
		got, gotErr := decodeStrictObject(bytes.Clone(b))
		if gotErr != wantErr {
			t.Fatalf("%q: error %v, reference %v", b, gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d members, reference %d", b, len(got), len(want))
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
				t.Fatalf("%q: member %q = %q, reference %q", b, k, g, v)
			}
		}
	})
}

// decodeStrictObjectReference parses b as one JSON object whose members (at every
// depth) have unique names. encoding/json alone would keep the last of two
// duplicates, letting a token mean different things to different parsers.
func decodeStrictObjectReference(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, errNotObject
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	if err := refScanObject(dec, 1); err != nil {
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

// refScanObject consumes an object's members after its '{'.
func refScanObject(dec *json.Decoder, depth int) error {
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
		if err := refScanValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return errNotObject
	}
	return nil
}

func refScanValue(dec *json.Decoder, depth int) error {
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
		return refScanObject(dec, depth+1)
	case '[':
		if depth+1 > maxJSONDepth {
			return errTooDeep
		}
		for dec.More() {
			if err := refScanValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errNotObject
		}
	}
	return nil
}

var benchPayload = []byte(`{"organizationId":"acme","tenantId":"t1","role":"admin","email":"first00000001@bench.test","name":"Bench User","iat":1764628000,"exp":1764631000,"jti":"1764628000000000000-12345"}`)

func BenchmarkDecodeStrictObject(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeStrictObject(benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStrictObjectReference(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeStrictObjectReference(benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}
