//! Avro IPC's Netty framing (`org.apache.avro.ipc.netty.NettyTransportCodec`), the byte layout
//! Flume's avro source and sink put on the wire: a *packet* is a big-endian `int32` serial, a
//! big-endian `int32` count of buffers, then each buffer as a big-endian `int32` length and its
//! bytes. One packet carries one request or one response (the response repeats the request's
//! serial); its buffers concatenated are the Avro RPC payload (`ipc`).
//!
//! The decoder is push-based and does no I/O, so that the source (tokio) and the sink (blocking
//! sockets) share it, with or without the deflate layer underneath.

use bytes::{Buf, Bytes, BytesMut};

use super::RpcError;

/// The largest packet rflume accepts: Flume's own client never sends more than its batch
/// (`batch-size` events), so a length beyond this is a broken or hostile peer, not data — refused
/// before anything is allocated for it.
pub const MAX_PACKET_BYTES: usize = 512 * 1024 * 1024;
/// Java's `NettyFrameDecoder` refuses more than this many buffers in one packet (it would allocate
/// a list of that size up front); the same limit here.
pub const MAX_BUFFERS: u32 = 1 << 20;

/// Appends one packet of `payload` (a single buffer) with `serial` to `out`.
pub fn encode_packet(serial: i32, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(12 + payload.len());
    out.extend_from_slice(&serial.to_be_bytes());
    if payload.is_empty() {
        // A handshake-only answer on an established connection has no bytes at all; Java writes
        // such a packet with no buffers.
        out.extend_from_slice(&0i32.to_be_bytes());
        return;
    }
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// One decoded packet: its serial and its buffers joined.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet {
    pub serial: i32,
    pub payload: Bytes,
}

/// Accumulates stream bytes and yields whole packets.
#[derive(Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder::default()
    }

    /// The buffer the caller reads the stream into (`read_buf`), so that bytes land in place.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether bytes of an unfinished packet are waiting.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next whole packet, `None` until all its bytes arrived. A packet with one buffer (what
    /// Flume's and avsc's clients send for a batch up to 8 KiB, and rflume always) is a slice of
    /// the read buffer, not a copy.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, RpcError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let serial = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let count = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
        if count > MAX_BUFFERS {
            return Err(RpcError::Frame(format!(
                "a packet of {count} buffers (more than {MAX_BUFFERS}): not Avro RPC framing"
            )));
        }
        // Walk the buffer lengths without consuming, until the packet is known to be complete.
        let mut at = 8usize;
        let mut total = 0usize;
        for _ in 0..count {
            if self.buf.len() < at + 4 {
                return Ok(None);
            }
            let len = u32::from_be_bytes([
                self.buf[at],
                self.buf[at + 1],
                self.buf[at + 2],
                self.buf[at + 3],
            ]) as usize;
            total = total.saturating_add(len);
            if len > MAX_PACKET_BYTES || total > MAX_PACKET_BYTES {
                return Err(RpcError::Frame(format!(
                    "a packet of more than {MAX_PACKET_BYTES} bytes: not Avro RPC framing, or a batch far beyond any batch-size"
                )));
            }
            at += 4;
            if self.buf.len() < at + len {
                // Make room for the rest of a large packet in one allocation.
                self.buf.reserve(at + len - self.buf.len());
                return Ok(None);
            }
            at += len;
        }
        self.buf.advance(8);
        let payload = if count == 1 {
            let len = self.buf.get_u32() as usize;
            self.buf.split_to(len).freeze()
        } else {
            let mut joined = BytesMut::with_capacity(total);
            for _ in 0..count {
                let len = self.buf.get_u32() as usize;
                joined.extend_from_slice(&self.buf[..len]);
                self.buf.advance(len);
            }
            joined.freeze()
        };
        Ok(Some(Packet { serial, payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_round_trips_byte_by_byte() {
        let mut wire = Vec::new();
        encode_packet(7, b"hello", &mut wire);
        assert_eq!(
            wire,
            [0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']
        );
        let mut d = FrameDecoder::new();
        for (i, b) in wire.iter().enumerate() {
            assert_eq!(d.next_packet().unwrap(), None, "complete after {i} bytes?");
            d.push(&[*b]);
        }
        let p = d.next_packet().unwrap().unwrap();
        assert_eq!((p.serial, &p.payload[..]), (7, &b"hello"[..]));
        assert!(d.is_empty());
    }

    #[test]
    fn several_buffers_are_joined_and_packets_follow_each_other() {
        // Java's NettyTransceiver sends one buffer per 8 KiB of payload.
        let mut wire = Vec::new();
        wire.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        wire.extend_from_slice(&[0, 0, 0, 2, b'a', b'b', 0, 0, 0, 1, b'c']);
        encode_packet(2, b"", &mut wire);
        let mut d = FrameDecoder::new();
        d.push(&wire);
        let p = d.next_packet().unwrap().unwrap();
        assert_eq!((p.serial, &p.payload[..]), (1, &b"abc"[..]));
        let p = d.next_packet().unwrap().unwrap();
        assert_eq!((p.serial, p.payload.len()), (2, 0));
        assert_eq!(d.next_packet().unwrap(), None);
    }

    #[test]
    fn absurd_lengths_are_refused_without_allocating() {
        let mut d = FrameDecoder::new();
        d.push(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_packet(), Err(RpcError::Frame(_))));
        let mut d = FrameDecoder::new();
        d.push(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_packet(), Err(RpcError::Frame(_))));
        // An HTTP request sent to the port by mistake.
        let mut d = FrameDecoder::new();
        d.push(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(d.next_packet().is_err());
    }
}
