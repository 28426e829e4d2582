// Package ws implements the WebSocket protocol, RFC 6455: a server handshake that runs
// inside any net/http handler, a client dialer, and connections that read and write whole
// or streamed messages. It is strict (every violation of the RFC by the peer fails the
// connection with the close code the RFC names), allocation-aware, and imports only the
// standard library.
//
// A server:
//
//	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
//		c, err := ws.Accept(w, r, nil)
//		if err != nil {
//			return // Accept has answered with an HTTP error
//		}
//		defer c.CloseNow()
//		for {
//			typ, msg, err := c.Read(r.Context())
//			if err != nil {
//				return
//			}
//			if err := c.Write(r.Context(), typ, msg); err != nil {
//				return
//			}
//		}
//	})
//
// A client:
//
//	c, _, err := ws.Dial(ctx, "wss://example.com/echo", nil)
//	if err != nil { … }
//	defer c.CloseNow()
//	err = c.Write(ctx, ws.MessageText, []byte("hello"))
//	typ, msg, err := c.Read(ctx)
//	err = c.Close(ws.StatusNormalClosure, "done")
//
// # Messages
//
// [Conn.Read] returns a whole message in a new slice, and [Conn.ReadAppend] appends it to
// a buffer the caller reuses, without allocating. [Conn.Reader] streams a message too large
// to hold. [Conn.Write] sends a message as one frame; [Conn.Writer] streams one as a
// fragmented message. Messages larger than the read limit (32 MiB unless set otherwise)
// fail the connection with 1009 before their payload is read; memory grows with the bytes
// that arrive, never with the length a header announces.
//
// # Control frames and closing
//
// Pings are answered and close frames handled by whichever goroutine is reading, also in
// the middle of a fragmented message. [Conn.Ping] waits for its pong; the PingInterval
// option sends pings and closes a connection whose peer stops answering.
// [Conn.Close] performs the closing handshake and [Conn.CloseNow] just closes. After the
// peer closes, reads return a *[CloseError]; [CloseStatus] gives its code. A peer that
// breaks the protocol gets a close frame with the right code (1002, 1007 or 1009) and
// reads return a *[ProtocolError].
//
// # Concurrency
//
// One goroutine at a time may read: Read, ReadAppend, Reader (and the reader it returns),
// ReadJSON. Any number of goroutines may write, ping and close at the same time as each
// other and as the reader: writes are serialised inside, whole messages one after the
// other, and control frames may go out between the frames of a streamed message. Nothing
// panics on misuse: a second concurrent reader waits for the first.
//
// Control frames arrive through reads, so a connection must be read for pongs (and thus
// [Conn.Ping] and keepalive) and the peer's close frame to be seen. A connection that
// only writes should run a goroutine that reads and discards, or call Close, which reads
// until the peer's close frame when no goroutine is reading.
//
// Every blocking method takes a context. If it ends before anything was read or written,
// the connection stays usable; if it ends part way through a frame, the connection is
// closed, as its stream can no longer be trusted. A context that is never done, such as
// context.Background, costs nothing; a cancellable one costs one small allocation per call.
//
// # Memory
//
// A connection takes buffers from pools only while it reads or writes, and on plain TCP on
// Unix a read waiting for the next message holds none. What else it costs is the caller's:
// a handler that keeps running for the connection's whole life also keeps net/http's
// state for it (the request, its buffered reader and writer, the handler's stack), some
// kilobytes per connection, and a goroutine parked in Read keeps its stack.
//
// A server with many long-lived, mostly idle connections should therefore return from the
// handler once Accept has succeeded, and read only when [Conn.WhenReadable] says a read is
// due: between messages the connection then holds no goroutine and no buffer, only its
// socket and a Conn of 768 bytes on 64-bit platforms (on plain TCP on Linux; elsewhere
// WhenReadable falls back to a goroutine that waits in a read). What only writing needs is
// made by a connection's first write.
//
// # Writing in bursts
//
// Every Write is one system call where the socket takes the frame at once: a server's on
// plain TCP whatever its size (header and payload go out together with writev), a
// client's, which it masks as it copies, one per 256 KiB. A server that answers each
// message can instead [Conn.Queue] its answers, which are sent together, in one write,
// when a read has to wait for the network, at [Conn.Flush], or with the next Write or
// Close; [Conn.Buffered] tells whether more of a burst is already here.
//
// [Conn.Serve] reads messages and hands each to a function, which may queue the answers:
// a read loop's read that finds nothing, before each wait, is then not made (on plain TCP
// on Unix), so an echo costs two system calls a message rather than three. With an idle
// period it returns once the connection goes quiet, for [Conn.WhenReadable] to take over.
//
// A broadcast needs no goroutine per subscriber: the publisher's goroutine
// [Conn.QueuePrepared]s each message (encoded once, see [PreparedMessage]) on every
// subscriber and calls [Conn.TryFlush], which sends what the socket takes without waiting:
// one system call a subscriber for a burst of messages, whatever its size. Only a
// subscriber that falls behind, whose socket is full, needs a goroutine, for as long as it
// is behind, to wait in Flush (bench/servers/duplex does this).
//
// # Origin
//
// Browsers let any web page open a WebSocket to any host, sending the user's cookies along,
// and only say where the page came from in the Origin header. [Accept] therefore refuses,
// with 403, a request whose Origin is another host than the request's own, unless
// [AcceptOptions].OriginPatterns allows it. Requests with no Origin header come from
// programs, not browsers, and are allowed. InsecureSkipVerifyOrigin turns the check off.
//
// # Compression
//
// permessage-deflate (RFC 7692) is negotiated when [AcceptOptions].Compression or
// [DialOptions].Compression enables it; it is off by default. Every parameter of the RFC is
// understood: several offers in preference order, server_no_context_takeover and
// client_no_context_takeover, and window bits from 8 to 15 for either side, which the
// compressor honours exactly (its matches never reach past the negotiated window). An
// offer a server cannot accept is declined, never failed; a client fails a response it did
// not offer.
//
// [CompressionNoContextTakeover] compresses each message on its own: compressors and
// decompressors come from pools while a message is written or read, so an idle connection
// holds no compression state. [CompressionContextTakeover] lets messages refer to earlier
// ones, which shrinks streams of similar messages much further, at a per-connection cost
// sized by the negotiated windows (about 128 KiB at 15 bits, under 1 KiB at 8).
//
// Messages shorter than the Threshold option (128 bytes by default) are sent uncompressed;
// [Conn.WriteCompressed] decides per message. Decompression is bounded by the read limit,
// applied to the decompressed size as it is produced, so a small compressed message cannot
// expand without bound. A [PreparedMessage] is compressed once for all the connections it
// is written to, as a broadcast wants.
package ws
