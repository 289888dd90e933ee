//! `compression-type = deflate`: Flume puts Netty's `ZlibEncoder`/`ZlibDecoder` (JZlib, zlib
//! wrapper) around the whole connection on both sides. Each direction is **one zlib stream for the
//! life of the connection**; every write is sync-flushed (`Z_SYNC_FLUSH`), so the peer can inflate
//! a packet as soon as it arrived without the stream ever ending.
//!
//! Both halves are in-memory transforms without I/O, shared by the source (tokio) and the sink
//! (blocking sockets). [`ZlibStream`] puts them around a stream, for Flume 1.10's layering of
//! TLS *inside* the zlib stream (`crate::rpc::tls::Layering`): TLS then runs over it as over a
//! socket.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// A stream whose bytes travel as one sync-flushed zlib stream per direction: every write is
/// compressed and flushed at once (a TLS record written through it reaches the peer whole), every
/// read inflates what arrived. Blocking (`Read`/`Write`) over a socket, or async
/// (`AsyncRead`/`AsyncWrite`) over a tokio stream.
pub struct ZlibStream<S> {
    inner: S,
    deflater: Deflater,
    inflater: Inflater,
    /// Compressed bytes read from `inner`, not yet inflated.
    incoming: Box<[u8]>,
    /// Inflated bytes not yet handed to the reader, from `plain_pos`.
    plain: Vec<u8>,
    plain_pos: usize,
    /// Compressed bytes not yet written to `inner` (async only), from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
}

fn io_error(e: RpcError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl<S> ZlibStream<S> {
    pub fn new(inner: S, level: u32) -> Self {
        ZlibStream {
            inner,
            deflater: Deflater::new(level),
            inflater: Inflater::new(),
            incoming: vec![0; 64 * 1024].into_boxed_slice(),
            plain: Vec::new(),
            plain_pos: 0,
            out: Vec::new(),
            out_pos: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Hands out inflated bytes already there; 0 when there are none.
    fn take_plain(&mut self, into: &mut [u8]) -> usize {
        let n = into.len().min(self.plain.len() - self.plain_pos);
        into[..n].copy_from_slice(&self.plain[self.plain_pos..self.plain_pos + n]);
        self.plain_pos += n;
        n
    }

    /// Inflates `n` bytes just read into `incoming`.
    fn inflate_incoming(&mut self, n: usize) -> io::Result<()> {
        self.plain.clear();
        self.plain_pos = 0;
        self.inflater
            .inflate(&self.incoming[..n], &mut self.plain)
            .map_err(io_error)
    }
}

impl<S: Read> Read for ZlibStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.take_plain(buf);
            if n > 0 {
                return Ok(n);
            }
            let got = self.inner.read(&mut self.incoming)?;
            if got == 0 {
                return Ok(0);
            }
            // A partial flush block inflates to nothing yet: read on.
            self.inflate_incoming(got)?;
        }
    }
}

impl<S: Write> Write for ZlibStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.out.clear();
        self.deflater
            .compress(buf, &mut self.out)
            .map_err(io_error)?;
        self.inner.write_all(&self.out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ZlibStream<S> {
    /// Writes out what earlier writes compressed.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ZlibStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Output a writer left behind goes out whenever the connection is polled, so a peer
        // waiting for it is never stuck behind our read.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            let n = this.take_plain(buf.initialize_unfilled());
            if n > 0 {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            let mut incoming = ReadBuf::new(&mut this.incoming);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut incoming))?;
            let got = incoming.filled().len();
            if got == 0 {
                return Poll::Ready(Ok(()));
            }
            this.inflate_incoming(got)?;
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ZlibStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Backpressure: what the last write compressed leaves first.
        ready!(this.poll_drain(cx))?;
        this.out.clear();
        this.out_pos = 0;
        this.deflater
            .compress(buf, &mut this.out)
            .map_err(io_error)?;
        // Sent now if the socket takes it; the rest by the next write, read or flush.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_zlib_stream_carries_bytes_both_ways_over_a_socket() {
        // Blocking on one end, async on the other: both adapters speak the same stream.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut z = ZlibStream::new(s, DEFAULT_LEVEL);
            let mut got = vec![0; 200_000];
            z.read_exact(&mut got).unwrap();
            z.write_all(&got[..1000]).unwrap();
            got
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let echoed = rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut z = ZlibStream::new(s, 1);
            z.write_all(&sent).await.unwrap();
            z.flush().await.unwrap();
            let mut back = vec![0; 1000];
            z.read_exact(&mut back).await.unwrap();
            back
        });
        let got = peer.join().unwrap();
        assert_eq!(got, sent);
        assert_eq!(echoed, sent[..1000]);
    }
}
