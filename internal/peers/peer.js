#!/usr/bin/env node
// WebSocket peer on Node's ws package, for Duplex's interop tests.
//
// ws/interop_test.go runs it as a server that Duplex dials, or as a client of a Duplex
// server, over 127.0.0.1. ws comes from the node_modules at the repository's root
// (npm ci), pinned by package-lock.json.
//
// Usage:
//   peer.js server [--max-size N] [--compression MODE [--max-window-bits N]]
//     Listens on 127.0.0.1 on a port the system picks and prints
//     {"event":"listening","port":PORT}. Each connection follows the script in the query
//     of its URL: ws://127.0.0.1:PORT/?id=ID&script=JSON&protocols=a,b&force=x.
//     protocols is the server's subprotocols, most preferred first; force, if set, is
//     answered whatever the client offered (to test that the client refuses it).
//   peer.js client [--max-size N] [--subprotocols a,b] [--compression MODE [--max-window-bits N]] URL SCRIPT
//     Connects to URL, follows SCRIPT and exits once the connection is closed.
//
// --max-size is the largest message accepted (default 32 MiB); a larger one fails the
// connection with 1009.
//
// --compression sets permessage-deflate (RFC 7692): "takeover" or "no-takeover" offers (as a
// client) or accepts (as a server) it with context takeover or without it in both
// directions, compressing every message whatever its size; "none" turns it off.
// --max-window-bits N (8 to 15) then bounds both windows. Without --compression the
// library's default applies (offered by a client, off in a server).
//
// A script is a JSON list of actions, run in order while every data message received is
// echoed back, text as text and binary as binary:
//   ["send", TYPE, DATA]          one message; TYPE is "text" or "binary"; DATA a string,
//                                 or a size n for n bytes of "abc...z" repeated
//   ["frag", TYPE, CHUNKS, PING]  one message as a frame per chunk (a list of strings);
//                                 if PING, a ping between the first two frames, whose pong
//                                 is awaited before the message goes on
//   ["ping", DATA]                a ping; its pong is reported as {"event":"pong"}
//   ["close", CODE, REASON]       the closing handshake; ["close"] sends no status code
//   ["raw", HEX]                  bytes written to the socket as they are
//   ["abort"]                     drops the TCP connection without a close frame
// Once the actions are done the peer echoes until the connection closes.
//
// Every event is a line of JSON on stdout carrying the connection's id: "open" with the
// agreed subprotocol and the ones offered, "pong", "error", and finally "closed" with the
// code and reason of the close frame received (1006 if none was).
'use strict';

const { WebSocket, WebSocketServer } = require('ws');

const DEFAULT_MAX_SIZE = 32 << 20;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz';

function emit(id, event, fields) {
  // Writes to a pipe are synchronous on Linux, so lines are never lost on exit.
  process.stdout.write(JSON.stringify({ id, event, ...fields }) + '\n');
}

// payload returns the data of a "send" action.
function payload(data) {
  if (typeof data === 'number') {
    return Buffer.from(ALPHABET.repeat(Math.ceil(data / ALPHABET.length)).slice(0, data));
  }
  return Buffer.from(data);
}

// ping sends a ping and resolves when its pong arrives.
function ping(ws, data) {
  return new Promise((resolve) => {
    const onPong = (got) => {
      if (got.toString() === data) {
        ws.off('pong', onPong);
        resolve();
      }
    };
    ws.on('pong', onPong);
    ws.ping(data);
  });
}

async function act(ws, id, action) {
  const [name, ...args] = action;
  switch (name) {
    case 'send':
      ws.send(payload(args[1]), { binary: args[0] === 'binary' });
      break;
    case 'frag': {
      // send with fin false starts or continues a message; the one with fin true ends it.
      // Echoes must not be sent meanwhile: the tests send nothing while a peer fragments.
      const [type, chunks, withPing] = args;
      for (let i = 0; i < chunks.length; i++) {
        if (i === 1 && withPing) {
          await ping(ws, 'mid-message');
          emit(id, 'pong', { data: 'mid-message' });
        }
        ws.send(Buffer.from(chunks[i]), { binary: type === 'binary', fin: i === chunks.length - 1 });
      }
      break;
    }
    case 'ping':
      await ping(ws, args[0]);
      emit(id, 'pong', { data: args[0] });
      break;
    case 'close':
      // ws.close() with no code sends a close frame with an empty payload.
      if (args.length) ws.close(args[0], args[1]);
      else ws.close();
      break;
    case 'raw':
      ws._socket.write(Buffer.from(args[0], 'hex')); // the socket under ws, unframed
      break;
    case 'abort':
      ws.terminate();
      break;
    default:
      throw new Error(`unknown action ${JSON.stringify(action)}`);
  }
}

// run echoes every message, runs the script and reports the connection's close.
async function run(ws, id, script, offered) {
  emit(id, 'open', { subprotocol: ws.protocol, offered });
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (err) => emit(id, 'error', { error: String(err) }));
  // ws reports 1006 when no close frame was received, and 1005 for one with no code.
  ws.on('close', (code, reason) => emit(id, 'closed', { code, reason: reason.toString() }));
  try {
    for (const action of script) {
      if (ws.readyState !== WebSocket.OPEN) break;
      await act(ws, id, action);
    }
  } catch (err) {
    emit(id, 'error', { error: String(err) });
  }
}

function offeredSubprotocols(header) {
  return (header || '').split(',').map((p) => p.trim()).filter((p) => p);
}

// perMessageDeflate returns the ws option for --compression, or undefined for the
// library's default.
function perMessageDeflate(opts, server) {
  const mode = opts['--compression'];
  if (mode === '') return undefined;
  if (mode === 'none') return false;
  if (mode !== 'takeover' && mode !== 'no-takeover') throw new Error(`unknown --compression ${mode}`);
  const noTakeover = mode === 'no-takeover';
  const bits = opts['--max-window-bits'] ? Number(opts['--max-window-bits']) : undefined;
  return {
    serverNoContextTakeover: noTakeover,
    clientNoContextTakeover: noTakeover,
    serverMaxWindowBits: bits,
    // A client offers the parameter, valueless when it sets no limit (RFC 7692 §7.1.2.2).
    clientMaxWindowBits: bits === undefined && !server ? true : bits,
    threshold: 0,
  };
}

function main(argv) {
  const opts = { '--max-size': String(DEFAULT_MAX_SIZE), '--subprotocols': '', '--compression': '', '--max-window-bits': '' };
  const args = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] in opts) opts[argv[i]] = argv[++i];
    else args.push(argv[i]);
  }
  const maxPayload = Number(opts['--max-size']);
  if (args[0] === 'server') {
    const serverDeflate = perMessageDeflate(opts, true);
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      maxPayload,
      ...(serverDeflate !== undefined && { perMessageDeflate: serverDeflate }),
      // Pick by this connection's preference order, from the URL's query.
      handleProtocols: (offered, req) => {
        const query = new URL(req.url, 'ws://127.0.0.1').searchParams;
        if (query.has('force')) return query.get('force');
        const preferred = (query.get('protocols') || '').split(',');
        return preferred.find((p) => p && offered.has(p)) || false;
      },
    });
    wss.on('listening', () => emit('', 'listening', { port: wss.address().port }));
    wss.on('connection', (ws, req) => {
      const query = new URL(req.url, 'ws://127.0.0.1').searchParams;
      const script = JSON.parse(query.get('script') || '[]');
      run(ws, query.get('id') || '', script, offeredSubprotocols(req.headers['sec-websocket-protocol']));
    });
  } else if (args[0] === 'client' && args.length === 3) {
    const protocols = offeredSubprotocols(opts['--subprotocols']);
    const options = { maxPayload };
    const deflate = perMessageDeflate(opts, false);
    if (deflate !== undefined) options.perMessageDeflate = deflate;
    const ws = new WebSocket(args[1], protocols, options);
    const onError = (err) => emit('', 'error', { error: String(err) }); // a failed handshake
    ws.on('error', onError);
    ws.on('open', () => {
      ws.off('error', onError);
      run(ws, '', JSON.parse(args[2]), protocols);
    });
  } else {
    process.stderr.write('usage: peer.js server|client [--max-size N] [--subprotocols a,b] [URL SCRIPT]\n');
    process.exitCode = 2;
  }
}

main(process.argv.slice(2));
