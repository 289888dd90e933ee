"""Flume's Thrift RPC (flume-ng-sdk/src/main/thrift/flume.thrift), client and server, on PyPI's
`thrift` library — an implementation independent of rflume's (and of Java's).

The thrift compiler is not installable here, so this is what `thrift --gen py flume.thrift`
generates, written out by hand on the library's protocol API: ThriftFlumeEvent
{1: map<string,string> headers, 2: binary body}, Status {OK, FAILED, ERROR, UNKNOWN},
ThriftSourceProtocol {append, appendBatch}, over TFramedTransport (what Flume's
TFastFramedTransport reads and writes) with TCompactProtocol or TBinaryProtocol.

  client PORT COUNT [--protocol compact|binary] [--batch N | --single] [--tls-ca PEM]
      sends events 0..COUNT (body "thrift event <i>", headers {seq: i, origin: python}); a call
      answered anything but OK is sent again (as Flume's sink retries); prints
      {"acknowledged": n} after each OK; exits 0 once all were answered OK.
  server [--protocol compact|binary] [--fail N] [--tls-cert PEM --tls-key PEM]
      listens on 127.0.0.1 (a free port; with --tls-cert, TLS under the framing as Flume's
      TSSLTransportFactory server socket: a failed handshake is printed as {"tls_error": "..."}
      and the connection dropped), prints {"listening": port}; answers the first N calls
      FAILED (their events are not accepted), the others OK, printing each accepted event as
      {"headers": {...}, "body": "..."} before answering.
"""

import argparse
import json
import socket
import ssl
import sys
import threading

from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport import TSocket, TSSLSocket, TTransport

OK, FAILED, ERROR, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", FAILED: "FAILED", ERROR: "ERROR", UNKNOWN: "UNKNOWN"}


def protocol_factory(name):
    if name == "binary":
        return TBinaryProtocol.TBinaryProtocolFactory()
    return TCompactProtocol.TCompactProtocolFactory()


# ThriftFlumeEvent, as the generated write()/read().
def write_event(oprot, headers, body):
    oprot.writeStructBegin("ThriftFlumeEvent")
    oprot.writeFieldBegin("headers", TType.MAP, 1)
    oprot.writeMapBegin(TType.STRING, TType.STRING, len(headers))
    for k, v in headers.items():
        oprot.writeString(k)
        oprot.writeString(v)
    oprot.writeMapEnd()
    oprot.writeFieldEnd()
    oprot.writeFieldBegin("body", TType.STRING, 2)
    oprot.writeBinary(body)
    oprot.writeFieldEnd()
    oprot.writeFieldStop()
    oprot.writeStructEnd()


def read_event(iprot):
    headers, body = None, None
    iprot.readStructBegin()
    while True:
        _, ftype, fid = iprot.readFieldBegin()
        if ftype == TType.STOP:
            break
        if fid == 1 and ftype == TType.MAP:
            headers = {}
            _, _, size = iprot.readMapBegin()
            for _ in range(size):
                k = iprot.readString()
                headers[k] = iprot.readString()
            iprot.readMapEnd()
        elif fid == 2 and ftype == TType.STRING:
            body = iprot.readBinary()
        else:
            iprot.skip(ftype)
        iprot.readFieldEnd()
    iprot.readStructEnd()
    if headers is None or body is None:
        raise ValueError("ThriftFlumeEvent without its required fields")
    return headers, body


class Client:
    def __init__(self, port, protocol, tls_ca=None):
        if tls_ca:
            sock = TSSLSocket.TSSLSocket("127.0.0.1", port, cert_reqs=ssl.CERT_REQUIRED,
                                         ca_certs=tls_ca, server_hostname="localhost")
        else:
            sock = TSocket.TSocket("127.0.0.1", port)
        self.transport = TTransport.TFramedTransport(sock)
        self.prot = protocol_factory(protocol).getProtocol(self.transport)
        self.transport.open()
        self.seq = 0

    def call(self, name, write_args):
        self.seq += 1
        p = self.prot
        p.writeMessageBegin(name, TMessageType.CALL, self.seq)
        p.writeStructBegin(name + "_args")
        write_args(p)
        p.writeFieldStop()
        p.writeStructEnd()
        p.writeMessageEnd()
        self.transport.flush()
        fname, mtype, rseq = p.readMessageBegin()
        if mtype == TMessageType.EXCEPTION:
            x = TApplicationException()
            x.read(p)
            p.readMessageEnd()
            raise x
        if rseq != self.seq or fname != name:
            raise ValueError("answer %s/%d to call %s/%d" % (fname, rseq, name, self.seq))
        status = None
        p.readStructBegin()
        while True:
            _, ftype, fid = p.readFieldBegin()
            if ftype == TType.STOP:
                break
            if fid == 0 and ftype == TType.I32:
                status = p.readI32()
            else:
                p.skip(ftype)
            p.readFieldEnd()
        p.readStructEnd()
        p.readMessageEnd()
        if status is None:
            raise TApplicationException(TApplicationException.MISSING_RESULT, name)
        return status

    def append(self, event):
        def args(p):
            p.writeFieldBegin("event", TType.STRUCT, 1)
            write_event(p, *event)
            p.writeFieldEnd()
        return self.call("append", args)

    def append_batch(self, events):
        def args(p):
            p.writeFieldBegin("events", TType.LIST, 1)
            p.writeListBegin(TType.STRUCT, len(events))
            for e in events:
                write_event(p, *e)
            p.writeListEnd()
            p.writeFieldEnd()
        return self.call("appendBatch", args)


def run_client(a):
    client = Client(a.port, a.protocol, a.tls_ca)
    events = [({"seq": str(i), "origin": "python"}, ("thrift event %d" % i).encode())
              for i in range(a.count)]
    step = 1 if a.single else a.batch
    done = 0
    while done < len(events):
        chunk = events[done:done + step]
        status = client.append(chunk[0]) if a.single else client.append_batch(chunk)
        if status != OK:
            print("retrying: %s" % NAMES.get(status, status), file=sys.stderr, flush=True)
            continue
        done += len(chunk)
        print(json.dumps({"acknowledged": done}), flush=True)
    client.transport.close()


class Handler:
    """The server's processor: what the generated Processor does, with --fail."""

    def __init__(self, fail):
        self.fail = fail
        self.lock = threading.Lock()

    def process(self, iprot, oprot):
        name, _, seq = iprot.readMessageBegin()
        events = []
        iprot.readStructBegin()
        while True:
            _, ftype, fid = iprot.readFieldBegin()
            if ftype == TType.STOP:
                break
            if name == "append" and fid == 1 and ftype == TType.STRUCT:
                events.append(read_event(iprot))
            elif name == "appendBatch" and fid == 1 and ftype == TType.LIST:
                _, size = iprot.readListBegin()
                for _ in range(size):
                    events.append(read_event(iprot))
                iprot.readListEnd()
            else:
                iprot.skip(ftype)
            iprot.readFieldEnd()
        iprot.readStructEnd()
        iprot.readMessageEnd()
        if name not in ("append", "appendBatch"):
            x = TApplicationException(TApplicationException.UNKNOWN_METHOD,
                                      "Unknown function %s" % name)
            oprot.writeMessageBegin(name, TMessageType.EXCEPTION, seq)
            x.write(oprot)
        else:
            with self.lock:
                if self.fail > 0:
                    self.fail -= 1
                    status = FAILED
                else:
                    status = OK
                    for headers, body in events:
                        print(json.dumps({"headers": headers, "body": body.decode()}),
                              flush=True)
            oprot.writeMessageBegin(name, TMessageType.REPLY, seq)
            oprot.writeStructBegin(name + "_result")
            oprot.writeFieldBegin("success", TType.I32, 0)
            oprot.writeI32(status)
            oprot.writeFieldEnd()
            oprot.writeFieldStop()
            oprot.writeStructEnd()
        oprot.writeMessageEnd()
        oprot.trans.flush()


def serve_client(handler, client, factory):
    trans = TTransport.TFramedTransport(client)
    prot = factory.getProtocol(trans)
    try:
        while True:
            handler.process(prot, prot)
    except (TTransport.TTransportException, EOFError, ConnectionError):
        pass
    finally:
        trans.close()


def run_server(a):
    if a.tls_cert:
        server = TSSLSocket.TSSLServerSocket(host="127.0.0.1", port=0, certfile=a.tls_cert,
                                             keyfile=a.tls_key)
    else:
        server = TSocket.TServerSocket(host="127.0.0.1", port=0)
    server.listen()
    port = server.handle.getsockname()[1]
    print(json.dumps({"listening": port}), flush=True)
    handler = Handler(a.fail)
    factory = protocol_factory(a.protocol)
    while True:
        client = server.accept()
        if client is None:
            # TSSLServerSocket.accept: the handshake failed (the library logged why).
            print(json.dumps({"tls_error": "handshake failed"}), flush=True)
            continue
        threading.Thread(target=serve_client, args=(handler, client, factory),
                         daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("client")
    c.add_argument("port", type=int)
    c.add_argument("count", type=int)
    c.add_argument("--protocol", default="compact")
    c.add_argument("--batch", type=int, default=100)
    c.add_argument("--single", action="store_true")
    c.add_argument("--tls-ca")
    s = sub.add_parser("server")
    s.add_argument("--protocol", default="compact")
    s.add_argument("--fail", type=int, default=0)
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    a = ap.parse_args()
    run_client(a) if a.mode == "client" else run_server(a)


if __name__ == "__main__":
    main()
