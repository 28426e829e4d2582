package server

import "time"

// tokenBucket limits the rate of a connection's messages: it holds up to burst tokens,
// gains rate tokens a second, and each message takes one. A nil *tokenBucket allows
// everything. It is used by one goroutine, the connection's reader.
type tokenBucket struct {
	rate   float64 // tokens a second
	burst  float64
	tokens float64
	last   time.Time
}

// newTokenBucket returns a full bucket, or nil, which allows everything, if rate is not
// positive.
func newTokenBucket(rate float64, burst int, now time.Time) *tokenBucket {
	if rate <= 0 {
		return nil
	}
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// allow takes a token for a message at time now, and reports whether there was one.
func (b *tokenBucket) allow(now time.Time) bool {
	if b == nil {
		return true
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
