#!/usr/bin/env python3
"""WebSocket peer on Python's websockets library, for Duplex's interop tests.

ws/interop_test.go runs it as a server that Duplex dials, or as a client of a Duplex
server, over 127.0.0.1. It uses the library's legacy asyncio API, the only one in
websockets 10.x (Debian's python3-websockets); later versions still ship it.

Usage:
    peer.py server [--max-size N] [--compression MODE [--max-window-bits N]]
        Listens on 127.0.0.1 on a port the system picks and prints
        {"event": "listening", "port": PORT}. Each connection follows the script in the
        query of its URL: ws://127.0.0.1:PORT/?id=ID&script=JSON&protocols=a,b&force=x.
        protocols is the server's subprotocols, most preferred first; force, if set, is
        answered whatever the client offered (to test that the client refuses it).
    peer.py client [--max-size N] [--subprotocols a,b] [--compression MODE [--max-window-bits N]] URL SCRIPT
        Connects to URL, follows SCRIPT and exits once the connection is closed.

--max-size is the largest message accepted (default 32 MiB); a larger one fails the
connection with 1009.

--compression sets permessage-deflate (RFC 7692): "takeover" or "no-takeover" offers (as a
client) or accepts (as a server) it with context takeover or without it in both
directions, "none" turns it off. --max-window-bits N (8 to 15) then bounds both windows.
Without --compression the library's default applies.

A script is a JSON list of actions, run in order while every data message received is
echoed back, text as text and binary as binary:
    ["send", TYPE, DATA]          one message; TYPE is "text" or "binary"; DATA a string,
                                  or a size n for n bytes of "abc...z" repeated
    ["frag", TYPE, CHUNKS, PING]  one message as a frame per chunk (a list of strings);
                                  if PING, a ping between the first two frames, whose pong
                                  is awaited before the message goes on
    ["ping", DATA]                a ping; its pong is reported as {"event": "pong"}
    ["close", CODE, REASON]       the closing handshake; ["close"] sends no status code
    ["raw", HEX]                  bytes written to the socket as they are
    ["abort"]                     drops the TCP connection without a close frame
Once the actions are done the peer echoes until the connection closes.

Every event is a line of JSON on stdout carrying the connection's id: "open" with the
agreed subprotocol and the ones offered, "pong", "error", and finally "closed" with the
code and reason of the close frame received (1006 if none was).
"""

import asyncio
import json
import sys
import urllib.parse

from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Close
from websockets.legacy.client import connect
from websockets.legacy.server import WebSocketServerProtocol, serve

DEFAULT_MAX_SIZE = 32 << 20
ALPHABET = b"abcdefghijklmnopqrstuvwxyz"


def emit(conn_id, event, **fields):
    print(json.dumps({"id": conn_id, "event": event, **fields}), flush=True)


def payload(typ, data):
    """The message for a "send" action: str for text, bytes for binary."""
    if isinstance(data, int):
        data = (ALPHABET * (data // len(ALPHABET) + 1))[:data]
    elif typ == "binary":
        data = data.encode()
    if typ == "text" and isinstance(data, bytes):
        data = data.decode()
    return data


async def echo(ws):
    """Echoes every data message until the connection closes."""
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def act(ws, conn_id, action):
    name, args = action[0], action[1:]
    if name == "send":
        await ws.send(payload(args[0], args[1]))
    elif name == "frag":
        typ, chunks, ping = args
        chunks = [c.encode() if typ == "binary" else c for c in chunks]

        async def fragments():
            # send() with an async iterable sends one frame per item, and a last empty
            # frame with FIN set; a ping sent between two items goes out between frames.
            for i, chunk in enumerate(chunks):
                if i == 1 and ping:
                    await (await ws.ping("mid-message"))
                    emit(conn_id, "pong", data="mid-message")
                yield chunk

        await ws.send(fragments())
    elif name == "ping":
        await (await ws.ping(args[0]))
        emit(conn_id, "pong", data=args[0])
    elif name == "close" and args:
        await ws.close(args[0], args[1])
    elif name == "close":
        # close() always sends a code; the library's own echo path sends an empty payload.
        await ws.write_close_frame(Close(1005, ""), b"")
        await ws.wait_closed()
    elif name == "raw":
        ws.transport.write(bytes.fromhex(args[0]))
    elif name == "abort":
        ws.transport.abort()
    else:
        raise ValueError(f"unknown action {action!r}")


async def run(ws, conn_id, script, offered):
    emit(conn_id, "open", subprotocol=ws.subprotocol or "", offered=offered)
    echoer = asyncio.create_task(echo(ws))
    try:
        for action in script:
            await act(ws, conn_id, action)
    except ConnectionClosed:
        pass
    except Exception as exc:  # reported, for the test to show
        emit(conn_id, "error", error=repr(exc))
    await echoer
    await ws.wait_closed()
    close = ws.close_rcvd
    emit(conn_id, "closed", code=close.code if close else 1006, reason=close.reason if close else "")


def offered_subprotocols(headers):
    return [p.strip() for h in headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",") if p.strip()]


class ServerProtocol(WebSocketServerProtocol):
    def process_subprotocol(self, headers, available_subprotocols):
        # Pick by this connection's preference order, from the URL's query.
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if "force" in query:
            return query["force"][0]
        offered = offered_subprotocols(headers)
        for p in query.get("protocols", [""])[0].split(","):
            if p and p in offered:
                return p
        return None


async def handle(ws, path=None):
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.path).query)
    script = json.loads(query.get("script", ["[]"])[0])
    await run(ws, query.get("id", [""])[0], script, offered_subprotocols(ws.request_headers))


def compression_args(opts, server):
    """The keyword arguments of serve() or connect() for --compression."""
    mode = opts["--compression"]
    if mode == "":
        return {}  # the library's default
    if mode == "none":
        return {"compression": None}
    if mode not in ("takeover", "no-takeover"):
        raise ValueError(f"unknown --compression {mode!r}")
    no_takeover = mode == "no-takeover"
    bits = int(opts["--max-window-bits"]) if opts["--max-window-bits"] else None
    if server:
        factory = ServerPerMessageDeflateFactory(
            server_no_context_takeover=no_takeover,
            client_no_context_takeover=no_takeover,
            server_max_window_bits=bits,
            client_max_window_bits=bits,
        )
    else:
        factory = ClientPerMessageDeflateFactory(
            server_no_context_takeover=no_takeover,
            client_no_context_takeover=no_takeover,
            server_max_window_bits=bits,
            client_max_window_bits=bits or True,
        )
    return {"compression": None, "extensions": [factory]}


async def main(argv):
    opts = {"--max-size": str(DEFAULT_MAX_SIZE), "--subprotocols": "", "--compression": "", "--max-window-bits": ""}
    args = []
    it = iter(argv[1:])
    for arg in it:
        if arg in opts:
            opts[arg] = next(it)
        else:
            args.append(arg)
    max_size = int(opts["--max-size"])
    if args[:1] == ["server"]:
        # ping_interval=None: no keepalive pings of the library's own in the tests.
        async with serve(handle, "127.0.0.1", 0, create_protocol=ServerProtocol,
                         max_size=max_size, ping_interval=None,
                         **compression_args(opts, server=True)) as server:
            emit("", "listening", port=server.sockets[0].getsockname()[1])
            await asyncio.Future()  # until killed
    elif args[:1] == ["client"] and len(args) == 3:
        protocols = [p for p in opts["--subprotocols"].split(",") if p]
        try:
            ws = await connect(args[1], subprotocols=protocols or None,
                               max_size=max_size, ping_interval=None,
                               **compression_args(opts, server=False))
        except Exception as exc:
            emit("", "error", error=repr(exc))
            return 1
        await run(ws, "", json.loads(args[2]), protocols)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
