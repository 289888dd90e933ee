// Flume's AvroSourceProtocol, from flume-ng-sdk/src/main/avro/flume.avdl, parsed by avsc's own
// IDL reader: the test side never shares rflume's copy of the protocol.
'use strict';
const avro = require('avsc');

const IDL = `
@namespace("org.apache.flume.source.avro")
protocol AvroSourceProtocol {
  enum Status { OK, FAILED, UNKNOWN }
  record AvroFlumeEvent {
    map<string> headers;
    bytes body;
  }
  Status append(AvroFlumeEvent event);
  Status appendBatch(array<AvroFlumeEvent> events);
}`;

module.exports = avro.Service.forProtocol(avro.readProtocol(IDL));
