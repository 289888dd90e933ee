// A Flume-protocol server on avsc (what a Flume collector's avro source is to an avro sink):
// prints every event it accepted as a JSON line {"seq":…,"body":…,"headers":{…}}.
//
//   node server.js [--deflate] [--fail N]
//
// Listens on an ephemeral port of 127.0.0.1 and prints {"listening": PORT} first. With --fail N
// the first N calls are answered FAILED (their events are not printed: not accepted).
'use strict';
const net = require('net');
const zlib = require('zlib');
const service = require('./flume_protocol');

const args = process.argv.slice(2);
const deflate = args.includes('--deflate');
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
  if (deflate) {
    const out = zlib.createDeflate({flush: zlib.constants.Z_SYNC_FLUSH});
    out.pipe(socket);
    server.createChannel({
      readable: socket.pipe(zlib.createInflate({finishFlush: zlib.constants.Z_SYNC_FLUSH})),
      writable: out,
    });
  } else {
    server.createChannel(socket);
  }
}).listen(0, '127.0.0.1', function () {
  process.stdout.write(JSON.stringify({listening: this.address().port}) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
