package storage

// SessionShard is a session id's shard among 16, for the in-memory caches
// keyed by session (the assertion cache, a backend's identity cache).
// Session ids end in the hex of a SHA-256, so their last digit is evenly
// spread over 0–15; its byte value is not ('0'–'9', 'a'–'f').
func SessionShard(sessionID string) int {
	n := len(sessionID)
	if n == 0 {
		return 0
	}
	switch d := sessionID[n-1]; {
	case d >= '0' && d <= '9':
		return int(d - '0')
	case d >= 'a' && d <= 'f':
		return int(d-'a') + 10
	default:
		return int(d) % 16
	}
}
