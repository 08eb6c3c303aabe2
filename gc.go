package main

import (
	"os"
	"runtime/debug"
)

// Garbage collector settings for `gatehouse serve`, unless the operator set
// GOGC or GOMEMLIMIT. The server's live heap is small (a few MB: the data is
// in bbolt's file mapping, not the heap), so Go's default of collecting each
// time the heap doubles means a collection every few hundred requests. A
// higher GOGC collects less often; the soft memory limit makes the collector
// work harder before the heap could push anonymous memory past it, so the
// footprint stays bounded whatever the load.
const (
	serveGCPercent   = 400
	serveMemoryLimit = 32 << 20 // bytes
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
}
