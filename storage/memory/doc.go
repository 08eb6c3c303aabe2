// Package memory is an in-memory storage.Store: plain maps behind one
// sync.RWMutex, so every method is trivially atomic. It owns nothing durable;
// it exists for tests and benchmarks of the layers above storage, and to keep
// the Store contract honest by being a second implementation that must pass
// storagetest alongside storage/bolt.
//
// Records are deep-copied on the way in and out, so a caller can never alias
// stored slices or maps, matching a serialising backend. Audit details are
// normalised through JSON on append for the same reason: callers see the same
// value shapes (float64 numbers, []any, map[string]any) the bolt backend
// returns.
package memory
