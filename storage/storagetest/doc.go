// Package storagetest is the conformance suite for storage.Store. Every
// backend runs it from its own tests (Run with a function that opens an empty
// store), so the contract documented in package storage is checked in one
// place instead of being re-interpreted per backend.
//
// The suite only asserts what store.go documents. Where the contract leaves a
// choice to the backend (list order of unordered lists, the exact expiry
// boundary, the Seq numbering after a prune, whether a full last page returns a
// cursor) the assertions accept every reading.
package storagetest
