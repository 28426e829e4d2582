package main

import (
	"fmt"
	"strconv"
)

// A scenario is one cell of the table: a load that duplex bench puts on each
// server in turn.
type scenario struct {
	name  string // for --only, and the table's heading: "echo c=64 1KiB"
	title string // what it does, under the heading
	kind  kind

	// bench is duplex bench's command line without the URL and the flags every run gets
	// (--json, --server-pid, --duration, --warmup): the benchmark, then its flags.
	bench []string
	// warmup, for connect, which has no --warmup: a run before the measured one, whose
	// result is discarded.
	warmup []string

	compress bool // the servers run with -compress no-takeover; rawtcp, without compression, does not run
	fds      int  // files each process opens: connections, and some to spare
	quick    bool // in --quick's set
	// quickOnly: only in --quick's set, for a smaller cell of the full set's
	quickOnly bool
}

// kind is what a scenario measures, which decides its table's columns.
type kind int

const (
	kindEcho       kind = iota // msgs/s, round-trip latency, server CPU per message
	kindBroadcast              // deliveries/s, delivery latency, server CPU per delivery
	kindHandshakes             // handshakes/s, handshake latency, server CPU per handshake
	kindIdle                   // server RSS per idle connection
)

// Sizes, as duplex bench's --size takes them.
var sizes = []struct {
	name  string
	bytes int
}{{"16B", 16}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// Parameters of the scenarios, beside the issue's.
const (
	// broadcastDeliveries is the deliveries a second that every broadcast scenario asks
	// for: messages a second × subscribers. It is what the slowest server here (rawtcp's
	// fan-out, a write per subscriber) can send on one core with room to spare, and what the
	// generator can receive on one: a broadcast measures the CPU time of a delivery at a
	// fixed load, not the most a server can deliver, which would be the generator's limit.
	broadcastDeliveries = 50000
	broadcastSize       = 256
	// burstDeliveries and burstLen are the bursts' scenarios: at n = 10000, a burst a
	// second.
	burstDeliveries = 100000
	burstLen        = 10
	// handshakes is how many connections the handshake scenario opens, as fast as they
	// open (64 at a time), after a warm-up of handshakeWarmup.
	handshakes      = 5000
	handshakeWarmup = 1000
	// idleHold is how long the idle scenarios hold their connections before the server's
	// memory is read again.
	idleHold = "2s"
	// fdSpare is the files a process opens beside its connections.
	fdSpare = 64
)

// scenarios returns the scenarios, in order. maxIdle is the most connections
// this machine allows one process (see maxConnections).
func scenarios(maxIdle int) []*scenario {
	var list []*scenario
	// Echo, C × S, closed loop, one message in flight per connection.
	for _, c := range []int{1, 64, 1000} {
		for _, s := range sizes {
			list = append(list, &scenario{
				name:  fmt.Sprintf("echo c=%d %s", c, s.name),
				title: fmt.Sprintf("%s, %s binary messages, one in flight each (closed loop)", plural(c, "connection"), s.name),
				kind:  kindEcho,
				bench: []string{"echo", "-c", strconv.Itoa(c), "-s", s.name, "--binary"},
				fds:   c + fdSpare,
				quick: c == 1 && s.bytes == 16 || c == 64 && s.bytes == 1<<10,
			})
		}
	}
	list = append(list,
		&scenario{
			name:  "echo c=4 1MiB",
			title: "4 connections, 1 MiB binary messages, one in flight each",
			kind:  kindEcho,
			bench: []string{"echo", "-c", "4", "-s", "1MiB", "--binary"},
			fds:   4 + fdSpare, quick: true,
		},
		&scenario{
			name:  "pipelined c=64 p=16 128B",
			title: "64 connections, 128 B binary messages, 16 in flight each",
			kind:  kindEcho,
			bench: []string{"echo", "-c", "64", "-s", "128", "--pipeline", "16", "--binary"},
			fds:   64 + fdSpare, quick: true,
		})
	for _, n := range []int{100, 1000, 10000} {
		rate := broadcastDeliveries / n
		list = append(list, &scenario{
			name:  fmt.Sprintf("broadcast n=%d", n),
			title: fmt.Sprintf("1 publisher, %d subscribers, %d B binary messages at %d/s (%d deliveries/s)", n, broadcastSize, rate, rate*n),
			kind:  kindBroadcast,
			bench: []string{"broadcast", "-n", strconv.Itoa(n), "-s", strconv.Itoa(broadcastSize), "--rate", strconv.Itoa(rate), "--protocol", "relay"},
			fds:   n + 1 + fdSpare,
			quick: n == 100,
		})
	}
	// The same fan-outs in bursts: a room where messages come in bunches, as they do from
	// many members at once, so that a server may send a subscriber a burst in one write.
	for _, n := range []int{1000, 10000} {
		rate := burstDeliveries / n
		list = append(list, &scenario{
			name:  fmt.Sprintf("broadcast n=%d burst=%d", n, burstLen),
			title: fmt.Sprintf("1 publisher, %d subscribers, %d B binary messages at %d/s in bursts of %d, each burst's messages sent together (%d deliveries/s)", n, broadcastSize, rate, burstLen, rate*n),
			kind:  kindBroadcast,
			bench: []string{"broadcast", "-n", strconv.Itoa(n), "-s", strconv.Itoa(broadcastSize), "--rate", strconv.Itoa(rate), "--burst", strconv.Itoa(burstLen), "--protocol", "relay"},
			fds:   n + 1 + fdSpare,
		})
	}
	idle := func(k int, note string, quickOnly bool) *scenario {
		return &scenario{
			name:  fmt.Sprintf("idle k=%d", k),
			title: fmt.Sprintf("%d connections opened and held idle for %s: server RSS growth per connection%s", k, idleHold, note),
			kind:  kindIdle,
			bench: []string{"connect", "-n", strconv.Itoa(k), "--hold", idleHold},
			fds:   k + fdSpare,
			quick: quickOnly, quickOnly: quickOnly,
		}
	}
	list = append(list, idle(1000, "", true), idle(10000, "", false))
	if maxIdle != 10000 {
		list = append(list, idle(maxIdle, " (the most this machine allows)", false))
	}
	list = append(list, &scenario{
		name:   "handshakes",
		title:  fmt.Sprintf("%d WebSocket handshakes (TCP connections for rawtcp), 64 at a time, after %d to warm up", handshakes, handshakeWarmup),
		kind:   kindHandshakes,
		bench:  []string{"connect", "-n", strconv.Itoa(handshakes)},
		warmup: []string{"connect", "-n", strconv.Itoa(handshakeWarmup)},
		fds:    handshakes + fdSpare, quick: true,
	})
	for _, s := range sizes[1:] {
		list = append(list, &scenario{
			name:     "deflate c=64 " + s.name,
			title:    fmt.Sprintf("64 connections, compressible %s binary messages (English-like text), one in flight each, permessage-deflate without context takeover, every message compressed both ways", s.name),
			kind:     kindEcho,
			bench:    []string{"echo", "-c", "64", "-s", s.name, "--binary", "--compress"},
			compress: true,
			fds:      64 + fdSpare,
			quick:    s.bytes == 1<<10,
		})
	}
	return list
}

// The servers, in the order of every round: bench/servers/NAME.
var serverNames = []string{"duplex", "gorilla", "coder", "gws", "gobwas", "rawtcp"}

// competitor reports whether a server is one of the libraries Duplex is compared with.
func competitor(name string) bool { return name != "duplex" && name != "rawtcp" }

// plural returns n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
