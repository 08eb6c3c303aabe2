package app

import (
	"encoding/json"
	"errors"
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
// depth) have unique names, and returns its top-level members. encoding/json
// alone would keep the last of two duplicates, letting a token mean
// different things to different parsers.
//
// It is one pass over the bytes, on the sign-in path twice per token (header
// and payload): it checks the JSON grammar exactly as encoding/json's scanner
// does, left to right, so the first problem met decides the error (a repeated
// name before a later syntax error is errDuplicateName, as the streaming
// decoder this replaced reported it). Names are compared after unescaping
// ("a" and "\u0061" are the same name). The values it returns are slices of
// b, as json.RawMessage from json.Unmarshal would hold them: the caller must
// not modify b afterwards. FuzzDecodeStrictObject checks it against the
// encoding/json.Decoder implementation it replaced.
func decodeStrictObject(b []byte) (map[string]json.RawMessage, error) {
	p := strictParser{b: b}
	p.ws()
	if p.i >= len(b) || b[p.i] != '{' {
		return nil, errNotObject
	}
	top := make(map[string]json.RawMessage, 8)
	if err := p.object(1, top); err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(b) {
		return nil, errNotObject // trailing data after the object
	}
	return top, nil
}

type strictParser struct {
	b []byte
	i int
}

func (p *strictParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object parses an object at p.i ('{'). With top set, members go into it
// (and it is the duplicate check); nested objects only check names.
func (p *strictParser) object(depth int, top map[string]json.RawMessage) error {
	if depth > maxJSONDepth {
		return errTooDeep
	}
	p.i++              // '{'
	var names []string // nested objects are small: a linear check beats a map
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return errNotObject
		}
		name, err := p.name()
		if err != nil {
			return err
		}
		if top != nil {
			if _, dup := top[name]; dup {
				return errDuplicateName
			}
		} else {
			for _, n := range names {
				if n == name {
					return errDuplicateName
				}
			}
			names = append(names, name)
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return errNotObject
		}
		p.i++
		p.ws()
		start := p.i
		if err := p.value(depth); err != nil {
			return err
		}
		if top != nil {
			top[name] = json.RawMessage(p.b[start:p.i:p.i])
		}
		p.ws()
		if p.i >= len(p.b) {
			return errNotObject
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return errNotObject
		}
	}
}

func (p *strictParser) array(depth int) error {
	if depth+1 > maxJSONDepth {
		return errTooDeep
	}
	p.i++ // '['
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if err := p.value(depth + 1); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return errNotObject
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return errNotObject
		}
	}
}

// value parses one value at p.i, which is not whitespace. depth is the
// depth of the container holding it: an object value opens depth+1.
func (p *strictParser) value(depth int) error {
	if p.i >= len(p.b) {
		return errNotObject
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth+1, nil)
	case c == '[':
		return p.array(depth)
	case c == '"':
		_, _, err := p.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return errNotObject
}

func (p *strictParser) literal(word string) error {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return errNotObject
	}
	p.i += len(word)
	return nil
}

// number accepts exactly JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *strictParser) number() error {
	b := p.b
	if b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(b) && b[p.i] == '0':
		p.i++
	case p.i < len(b) && b[p.i] >= '1' && b[p.i] <= '9':
		for p.i < len(b) && b[p.i] >= '0' && b[p.i] <= '9' {
			p.i++
		}
	default:
		return errNotObject
	}
	if p.i < len(b) && b[p.i] == '.' {
		p.i++
		if !p.digits() {
			return errNotObject
		}
	}
	if p.i < len(b) && (b[p.i] == 'e' || b[p.i] == 'E') {
		p.i++
		if p.i < len(b) && (b[p.i] == '+' || b[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return errNotObject
		}
	}
	return nil
}

func (p *strictParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// str scans a string literal at p.i ('"'), returning its raw bytes (quotes
// included) and whether it holds anything but plain ASCII (an escape or a
// byte ≥ 0x80), i.e. whether its meaning differs from its bytes.
func (p *strictParser) str() (raw []byte, plain bool, err error) {
	b := p.b
	start := p.i
	p.i++
	plain = true
	for p.i < len(b) {
		c := b[p.i]
		switch {
		case c == '"':
			p.i++
			return b[start:p.i], plain, nil
		case c < 0x20:
			return nil, false, errNotObject
		case c == '\\':
			plain = false
			p.i++
			if p.i >= len(b) {
				return nil, false, errNotObject
			}
			switch b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				p.i++
				if len(b)-p.i < 4 {
					return nil, false, errNotObject
				}
				for _, h := range b[p.i : p.i+4] {
					if !isHex(h) {
						return nil, false, errNotObject
					}
				}
				p.i += 4
			default:
				return nil, false, errNotObject
			}
		default:
			if c >= 0x80 {
				plain = false
			}
			p.i++
		}
	}
	return nil, false, errNotObject
}

// name scans a member name and returns it as encoding/json decodes it.
func (p *strictParser) name() (string, error) {
	raw, plain, err := p.str()
	if err != nil {
		return "", err
	}
	if plain {
		return string(raw[1 : len(raw)-1]), nil
	}
	// Escapes and non-ASCII bytes (invalid UTF-8 becomes U+FFFD) decode the
	// way encoding/json's own unquoting does: use it.
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errNotObject
	}
	return s, nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
