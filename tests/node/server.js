// A Flume-protocol server on avsc (what a Flume collector's avro source is to an avro sink):
// prints every event it accepted as a JSON line {"seq":…,"body":…,"headers":{…}}.
//
//   node server.js [--deflate] [--fail N] [--tls CERT.pem KEY.pem] [--layering flume-1.9|flume-1.10]
//
// Listens on an ephemeral port of 127.0.0.1 and prints {"listening": PORT} first. With --fail N
// the first N calls are answered FAILED (their events are not printed: not accepted).
'use strict';
const net = require('net');
const layers = require('./layers');
const service = require('./flume_protocol');

const args = process.argv.slice(2);
const opts = layers.options(args);
const context = layers.serverContext(opts);
const failIdx = args.indexOf('--fail');
let toFail = failIdx < 0 ? 0 : Number(args[failIdx + 1]);

const server = service.createServer({silent: true});
const accept = (events) => {
  for (const e of events) {
    process.stdout.write(JSON.stringify({body: e.body.toString('utf8'), headers: e.headers}) + '\n');
  }
};
server.onAppendBatch((events, cb) => {
  if (toFail > 0) {
    toFail -= 1;
    return cb(null, 'FAILED');
  }
  accept(events);
  cb(null, 'OK');
});
server.onAppend((event, cb) => {
  accept([event]);
  cb(null, 'OK');
});

net.createServer((socket) => {
  socket.on('error', () => {});
  const transport = layers.serverTransport(socket, opts, context);
  if (transport.on) {
    // A client that fails the handshake (it does not trust our certificate) is reported.
    transport.on('error', (err) => process.stderr.write(`transport error: ${err}\n`));
  }
  server.createChannel(transport);
}).listen(0, '127.0.0.1', function () {
  process.stdout.write(JSON.stringify({listening: this.address().port}) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
