// Package jwks fetches a partner's JSON Web Key Set (SPEC §4.7) over an HTTP
// client that is hardened against the usual server-side request abuse: https
// only (plain http solely to a literal loopback address, and only when the
// operator allowed it), no redirects, no proxy taken from the environment, no
// cookies or credentials, a 5 s deadline and a 256 KiB cap on the answer.
//
// It owns the transport and the JSON shape of a key set, nothing more: which
// keys a partner may use (kid alphabet, key sizes, collisions with other
// partners) is decided by package app.
package jwks
