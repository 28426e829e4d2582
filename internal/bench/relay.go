package bench

import (
	"encoding/binary"
)

// A relay, such as the /broadcast endpoints of bench/servers, sends every message a
// connection sends to every connection, the sender included; it has no rooms, no names, no
// welcome. Broadcast sends it binary messages of the run's size whose first 8 bytes are
// the intended send time, big-endian, in nanoseconds on the run's clock, and the rest text
// (payload). Values with the top bit set, which no time has, mark the message that ends
// the run, and the probes that tell Broadcast when each subscriber has joined, numbered
// from 1 in their low bits.
const (
	relayStampLen = 8
	relayEnd      = 1<<63 | 1
	relayProbe    = 1<<63 | 1<<62
)

// relayProtocol is a relay at url.
type relayProtocol struct {
	url  string
	size int
}

func (p *relayProtocol) memberURL(string) string { return p.url }

func (p *relayProtocol) message() []byte { return payload(p.size) }

func (p *relayProtocol) stamp(msg []byte, due, _ int64) {
	binary.BigEndian.PutUint64(msg, uint64(due))
}

func (p *relayProtocol) end(msg []byte) { binary.BigEndian.PutUint64(msg, relayEnd) }

// probe writes into msg the probe numbered k: a subscriber that receives it has joined.
func (p *relayProtocol) probe(msg []byte, k int64) {
	binary.BigEndian.PutUint64(msg, relayProbe|uint64(k))
}

func (p *relayProtocol) parse(msg []byte) (deliveryKind, int64) {
	if len(msg) != p.size {
		return deliveryBad, 0
	}
	switch v := binary.BigEndian.Uint64(msg); {
	case v&relayProbe == relayProbe:
		return deliveryJoined, int64(v &^ relayProbe)
	case v == relayEnd:
		return deliveryEnd, 0
	case v >= 1<<63:
		return deliveryBad, 0
	default:
		return deliveryMessage, int64(v)
	}
}
