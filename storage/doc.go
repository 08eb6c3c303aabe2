// Package storage defines the persistence contract of Gatehouse: the record
// types, the Store interface every backend implements, and the sentinel errors
// callers test with errors.Is. It owns no behaviour beyond the helper shared
// by every backend (audit hashing); the domain rules live in app.
//
// Backends: storage/bolt (the production bbolt file), storage/memory (tests,
// benchmarks), and storage/storagetest, the conformance suite both must pass.
package storage
