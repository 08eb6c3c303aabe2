// Package app is Gatehouse's domain and service layer: configuration, the
// partner sign-in pipeline (two verifiers — RS256 JWT and HMAC — feeding one
// policy → provisioning → session pipeline), sessions, and every
// administrative operation the HTTP API, the console and the CLI share.
//
// It imports no HTTP, terminal or database package: persistence goes through
// storage.Store, and callers translate *Error codes into their own responses.
package app
