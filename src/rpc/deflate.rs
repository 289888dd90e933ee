//! `compression-type = deflate`: Flume puts Netty's `ZlibEncoder`/`ZlibDecoder` (JZlib, zlib
//! wrapper) around the whole connection on both sides. Each direction is **one zlib stream for the
//! life of the connection**; every write is sync-flushed (`Z_SYNC_FLUSH`), so the peer can inflate
//! a packet as soon as it arrived without the stream ever ending.
//!
//! Both halves are in-memory transforms without I/O, shared by the source (tokio) and the sink
//! (blocking sockets).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::RpcError;

/// Flume's `compression-level` default, and the level its avro source always uses
/// (`new JZlibEncoder(6)`).
pub const DEFAULT_LEVEL: u32 = 6;

/// The compressing half of a connection.
pub struct Deflater {
    z: Compress,
}

impl Deflater {
    pub fn new(level: u32) -> Self {
        Deflater {
            z: Compress::new(Compression::new(level.min(9)), true),
        }
    }

    /// Appends the compressed, sync-flushed form of `plain` to `out`.
    pub fn compress(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), RpcError> {
        let mut input = plain;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before_in = self.z.total_in();
            self.z
                .compress_vec(input, out, FlushCompress::Sync)
                .map_err(|e| RpcError::Deflate(e.to_string()))?;
            let used = (self.z.total_in() - before_in) as usize;
            input = &input[used..];
            // Done when all input is consumed and the flush left spare room (zlib filled the
            // buffer completely only if more output may be pending).
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

/// The inflating half of a connection.
pub struct Inflater {
    z: Decompress,
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    pub fn new() -> Self {
        Inflater {
            z: Decompress::new(true),
        }
    }

    /// Appends what `compressed` inflates to to `out`. Bytes of a flush block that has not fully
    /// arrived yet stay inside zlib's state until the next call.
    pub fn inflate(&mut self, compressed: &[u8], out: &mut Vec<u8>) -> Result<(), RpcError> {
        let mut input = compressed;
        loop {
            out.reserve(input.len().saturating_mul(3).clamp(4096, 1 << 20));
            let before_in = self.z.total_in();
            let status = self
                .z
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|e| {
                    RpcError::Deflate(format!("{e} (is the peer's compression-type deflate too?)"))
                })?;
            let used = (self.z.total_in() - before_in) as usize;
            input = &input[used..];
            if status == Status::StreamEnd {
                // The peer ended its stream (Netty does when the channel closes); anything after
                // it would be a new stream, which no Flume peer sends.
                return Ok(());
            }
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn each_write_inflates_on_its_own_from_one_stream() {
        let mut d = Deflater::new(DEFAULT_LEVEL);
        let mut i = Inflater::new();
        for msg in [&b"first packet"[..], &[b'x'; 100_000][..], b""] {
            let mut wire = Vec::new();
            d.compress(msg, &mut wire).unwrap();
            // Split the compressed bytes anywhere: the inflater waits for the rest.
            let (a, b) = wire.split_at(wire.len() / 2);
            let mut plain = Vec::new();
            i.inflate(a, &mut plain).unwrap();
            i.inflate(b, &mut plain).unwrap();
            assert_eq!(plain, msg);
        }
    }

    #[test]
    fn the_stream_is_standard_zlib() {
        // An independent inflater (flate2's reader over the whole stream) reads what we wrote.
        let mut d = Deflater::new(9);
        let mut wire = Vec::new();
        d.compress(b"abc", &mut wire).unwrap();
        d.compress(b"def", &mut wire).unwrap();
        assert_eq!(&wire[..2], &[0x78, 0xda], "zlib header for level 9");
        let mut out = Vec::new();
        let mut r = flate2::read::ZlibDecoder::new(&wire[..]);
        let _ = r.read_to_end(&mut out); // the stream has no end: an EOF error after the data
        assert_eq!(out, b"abcdef");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut i = Inflater::new();
        let mut out = Vec::new();
        assert!(i.inflate(b"\x00\x00\x00\x01not zlib", &mut out).is_err());
    }
}
