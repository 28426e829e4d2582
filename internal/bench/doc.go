// Package bench is the load generator behind duplex bench: [Echo] runs connections that
// send messages to an echo endpoint and time their replies, [Broadcast] times the messages
// of one publisher as they reach the subscribers of a chat room of duplex serve or of a
// plain relay, and [Connect] times WebSocket handshakes and then holds the connections
// open. Each returns a [Result], which [Result.WriteTable] prints for people and
// encoding/json for programs.
//
// The same runs load a raw TCP server (a tcp:// URL, the protocol of bench/servers/rawtcp:
// a length before each message), so that one generator measures every server of bench/
// and the baseline that WebSocket cannot beat. A run holds its connections through a small
// interface, WebSocket or TCP, at the cost of an indirect call a message.
//
// # Measuring
//
// Latencies go into HDR histograms (1 µs to 60 s, 3 significant digits), sharded so that
// connections on different processors do not contend. In a closed loop (Echo without a
// rate) a message is timed from when it was written. On a schedule (Echo with a rate,
// Broadcast, Connect with a rate) every message or handshake has an intended time, and
// it is timed from that time, not from when it was actually sent: a generator or server
// that falls behind shows its delay in the latencies rather than hiding it by sending
// less (no coordinated omission). Sends that start more than [LateAfter] after their
// intended time are counted as late.
//
// Messages are attributed by their send time (intended, on a schedule): those sent during
// the warm-up are left out of every count and latency. Of the messages sent in the
// measured window,
//
//	Sent × receivers = Received + Lost + InFlight
//
// where receivers is 1 for Echo and the number of subscribers that joined for Broadcast;
// Lost counts the missing replies or deliveries of connections that failed, and InFlight
// those of connections still healthy when the drain after the window ended. Errors are
// counted by kind, once per connection that failed (and once per failed dial): the first
// error ends the connection, which is not dialled again.
//
// # Cost
//
// The generator must not be what limits a run. In steady state a message costs no
// allocation: replies are read with ws.Conn.ReadAppend into a buffer each connection
// reuses, the payload is shared and written as it is, times are monotonic nanoseconds
// from one time.Time, and no goroutine is started per message (BenchmarkEchoLoop and
// TestBenchEchoLoopAllocs show it). A closed loop with one message in flight is served,
// on Linux, by event loops (loop_linux.go): GOMAXPROCS goroutines, each waiting for many
// connections at once in an epoll instance of its own; elsewhere, and for what an event
// loop does not take (wss://, compression, messages over 64 KiB), by a goroutine per
// connection. Pipelining and schedules split each connection into a writer and a reader.
//
// On loopback, system calls are nearly all of the CPU a message costs either end (a write
// carries the message through the receiver's TCP stack too), so the generator saves them
// where it honestly can. Through the connection under each run's connection (wire.go),
// the messages of a connection that are due together (credits of a pipeline, or late on
// a schedule) go out in one write, each still a frame of its own, masked with its own key;
// and a goroutine's closed loop waits for its reply in the runtime's poller right after
// writing, rather than first reading and finding nothing. An event loop goes further: it
// takes the replies that are ready together after one epoll_wait, and parks and wakes no
// goroutine for each. With one message in flight per connection, each end makes one write
// and one read per message, the server also a read that finds nothing and a goroutine's
// park, and the generator spends about 0.77 of what the cheapest server (raw TCP) does
// (a goroutine per connection was level with it, at 1.03); with 16 in flight, about half
// (TestBenchGeneratorCheaperThanRawTCP in internal/cli, which runs the two on one CPU so
// that each one's CPU time is its work; TestBenchGeneratorCheaperThanServer compares with
// duplex serve). Sharing one CPU, the process that spends less sleeps more and is woken
// ahead of the other: the server, interrupted more often, handles fewer messages per
// wake-up, and its CPU per message is some 7% higher against an event loop than against
// goroutines; the generator's own fell by a fifth.
//
// The result reports the generator's own CPU time per message, from
// getrusage(RUSAGE_SELF) over the measured window. Given the server's process ID
// (Config.ServerPID), a run reads the server's CPU time from /proc/PID/stat at the same
// two moments, in ticks of 10 ms, and reports it per message too: steadier than a
// throughput on a busy machine. It reports the part of it in the kernel (system time) as
// well: on loopback that is most of it, the same for every server making the same system
// calls, and what is left is the server's own code, library and runtime. On CPUs of
// their own, the process that is not the bottleneck spends its spare time going to sleep
// and being woken, for each message or few: the two come out about even whatever the
// work, and only the one that is busy all the time shows its own cost.
//
// # Goroutines
//
// Every goroutine a run starts ends before it returns. Each connection's goroutines end
// when the connection does, and an event loop's once none of its connections is left: each
// leaves when it fails, or goes to a goroutine of its own to end (or for what the loop does
// not handle). The run's own goroutine (the caller's) times the phases, reports progress
// and, once the drain is over, closes whatever connection is still open, and wakes the
// event loops, which a closed socket does not, to let go of theirs.
package bench
