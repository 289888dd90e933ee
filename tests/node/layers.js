// The layers Flume puts under Avro IPC's frames, rebuilt with Node's own zlib and tls (no code
// shared with rflume): deflate is one sync-flushed zlib stream per direction; TLS is either on
// the wire with the zlib stream inside it (Flume <= 1.9, Netty 3: SslHandler added first) or
// inside the zlib stream (Flume >= 1.10, Netty 4: SslHandler added last), `--layering
// flume-1.9|flume-1.10`.
'use strict';
const fs = require('fs');
const stream = require('stream');
const tls = require('tls');
const zlib = require('zlib');

const argValue = (args, name) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};

// A duplex over `socket` that deflates what is written and inflates what is read.
function zlibOver(socket) {
  const out = zlib.createDeflate({flush: zlib.constants.Z_SYNC_FLUSH});
  out.pipe(socket);
  const inflated = socket.pipe(zlib.createInflate({finishFlush: zlib.constants.Z_SYNC_FLUSH}));
  const duplex = new stream.Duplex({
    write(chunk, _enc, cb) { out.write(chunk, cb); },
    final(cb) { out.end(); cb(); },
    read() {},
  });
  inflated.on('data', (d) => duplex.push(d));
  inflated.on('end', () => duplex.push(null));
  inflated.on('error', (e) => duplex.destroy(e));
  socket.on('error', (e) => duplex.destroy(e));
  return duplex;
}

// What avsc's createClient/createChannel take: a duplex, or {readable, writable}.
function zlibTransport(s) {
  const out = zlib.createDeflate({flush: zlib.constants.Z_SYNC_FLUSH});
  out.pipe(s);
  return {
    readable: s.pipe(zlib.createInflate({finishFlush: zlib.constants.Z_SYNC_FLUSH})),
    writable: out,
  };
}

// Options shared by client.js and server.js.
function options(args) {
  return {
    deflate: args.includes('--deflate'),
    // client: --tls CA.pem; server: --tls CERT.pem KEY.pem
    tls: args.includes('--tls'),
    tlsArgs: (() => {
      const i = args.indexOf('--tls');
      return i < 0 ? [] : args.slice(i + 1, i + 3);
    })(),
    layering: argValue(args, '--layering') || 'flume-1.10',
  };
}

// The client side: returns the transport for avsc and the raw socket (to end it).
function clientTransport(raw, opts) {
  if (!opts.tls) return opts.deflate ? zlibTransport(raw) : raw;
  const ca = fs.readFileSync(opts.tlsArgs[0]);
  if (opts.deflate && opts.layering === 'flume-1.10') {
    return tls.connect({socket: zlibOver(raw), ca, servername: 'localhost'});
  }
  const secure = tls.connect({socket: raw, ca, servername: 'localhost'});
  return opts.deflate ? zlibTransport(secure) : secure;
}

// The server side of one accepted socket.
function serverTransport(raw, opts, context) {
  if (!opts.tls) return opts.deflate ? zlibTransport(raw) : raw;
  if (opts.deflate && opts.layering === 'flume-1.10') {
    return new tls.TLSSocket(zlibOver(raw), {isServer: true, secureContext: context});
  }
  const secure = new tls.TLSSocket(raw, {isServer: true, secureContext: context});
  return opts.deflate ? zlibTransport(secure) : secure;
}

function serverContext(opts) {
  if (!opts.tls) return undefined;
  return tls.createSecureContext({
    cert: fs.readFileSync(opts.tlsArgs[0]),
    key: fs.readFileSync(opts.tlsArgs[1]),
  });
}

module.exports = {options, clientTransport, serverTransport, serverContext};
