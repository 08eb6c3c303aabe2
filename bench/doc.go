// Package bench measures Gatehouse from outside, the way a proxy and partner
// portals see it: the real `gatehouse serve` binary (fsync on, logging and
// metrics at their defaults) on a real TCP listener, driven by concurrent
// keep-alive HTTP clients in this process, next to two reference servers run
// as processes of their own in the same layout:
//
//   - a verify-only sign-in server: go-jose RS256 verification, a cookie and
//     a 302, nothing stored. A durable sign-in is judged against it.
//   - a trivial forward-auth server: cookie → SHA-256 → map lookup → six
//     headers. Forward-auth is judged against it.
//
// Everything lives in the package's tests; `go test -bench` is the one
// command (see the README's Performance section). Each benchmark reports
// ops/s, p99 latency, the ratio to its reference measured in the same
// iteration, and the server process's peak memory.
package bench
