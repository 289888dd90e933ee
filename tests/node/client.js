// A Flume-protocol client on avsc: sends events to an avro source and waits for each answer, as
// Flume's NettyAvroRpcClient does; a FAILED answer or an error is retried (the same batch).
//
//   node client.js PORT COUNT [--batch N] [--single] [--deflate] [--start I] [--progress]
//                  [--tls CA.pem] [--layering flume-1.9|flume-1.10] [--header NAME=VALUE]...
//
// Event i has the body "avsc event <i>" and the headers {seq: <i>, origin: "avsc"}, plus every
// --header given (a config's `%{header}` escapes need their header on each event). Prints one
// JSON line at the end: {"sent": n, "calls": c, "retries": r}; with --progress also
// {"acknowledged": n} after each OK (n events answered OK so far). Exits 1 when it gives up.
'use strict';
const net = require('net');
const layers = require('./layers');
const service = require('./flume_protocol');

const args = process.argv.slice(2);
const port = Number(args[0]);
const count = Number(args[1]);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : Number(args[i + 1]);
};
const batchSize = opt('--batch', 100);
const start = opt('--start', 0);
const single = args.includes('--single');
const progress = args.includes('--progress');
// One header only: see the README's differences (header order of avro-source events).
const seqOnly = args.includes('--seq-header-only');
const extraHeaders = {};
args.forEach((a, i) => {
  if (a !== '--header') return;
  const [name, ...value] = args[i + 1].split('=');
  extraHeaders[name] = value.join('=');
});

const socket = net.connect(port, '127.0.0.1');
// Netty's ZlibEncoder/ZlibDecoder and SslHandler as Flume's client puts them on the connection.
const transport = layers.clientTransport(socket, layers.options(args));
if (transport.on) {
  transport.on('error', (err) => {
    console.error(`transport error: ${err}`);
    process.exit(1);
  });
}
const client = service.createClient({transport, timeout: 60000, buffering: true});

const event = (i) => ({
  headers: Object.assign(
    seqOnly ? {seq: String(i)} : {seq: String(i), origin: 'avsc'}, extraHeaders),
  body: Buffer.from(`avsc event ${i}`),
});

let calls = 0;
let retries = 0;
function call(from, done) {
  const to = Math.min(from + (single ? 1 : batchSize), start + count);
  const cb = (err, status) => {
    calls += 1;
    if (err || status !== 'OK') {
      retries += 1;
      console.error(`call failed, retrying: ${err || status}`);
      if (retries > 100) {
        console.error(`giving up: ${err || status}`);
        process.exit(1);
      }
      return setTimeout(() => call(from, done), 100);
    }
    if (progress) console.log(JSON.stringify({acknowledged: to - start}));
    if (to >= start + count) return done();
    call(to, done);
  };
  if (single) {
    client.append(event(from), cb);
  } else {
    const events = [];
    for (let i = from; i < to; i++) events.push(event(i));
    client.appendBatch(events, cb);
  }
}

client.on('error', (err) => {
  console.error(`client error: ${err}`);
  process.exit(1);
});
call(start, () => {
  console.log(JSON.stringify({sent: count, calls, retries}));
  client.destroyChannels({noWait: true});
  socket.end();
  process.exit(0);
});
