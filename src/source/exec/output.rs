//! The exec command's standard output, read so that the source's thread wakes for the reads it
//! wants and not for every write the command makes.
//!
//! tokio's reactor registers a pipe edge-triggered, and Linux signals an edge for *every* write
//! into a pipe, also while it already holds data. So with the pipe registered, a command that
//! writes a line at a time (`tail -F` of a log written a line per `write(2)`) woke the source's
//! thread once per line, even while the source deliberately waited to take many lines in one
//! read: 5,839 wake-ups a second at 10,000 lines/s, 113 at 100 lines/s. Here the pipe is
//! registered only while the source waits for it to become readable, and taken out of the
//! reactor while the source gathers; a read after a gather is tried at once, without the
//! reactor, since it nearly always finds data.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use bytes::{BufMut, BytesMut};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::process::ChildStdout;

/// The pipe, registered with the reactor only while a read waits for data.
enum Pipe {
    Out(OwnedFd),
    Registered(AsyncFd<OwnedFd>),
    /// Only while moving between the two.
    Moving,
}

pub(crate) struct CommandOutput {
    pipe: Pipe,
}

impl CommandOutput {
    pub(crate) fn new(stdout: ChildStdout) -> io::Result<Self> {
        // tokio hands the descriptor back deregistered and in blocking mode.
        let fd = stdout.into_owned_fd()?;
        set_nonblocking(&fd)?;
        Ok(CommandOutput {
            pipe: Pipe::Out(fd),
        })
    }

    /// Reads what the pipe holds into `buf` (at least one byte, or 0 at end of input),
    /// waiting until there is something.
    pub(crate) async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if let Pipe::Out(fd) = &self.pipe {
            match read_into(fd.as_raw_fd(), buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
        }
        self.pipe = match self.take() {
            // SAFETY: the `OwnedFd` moves into the `AsyncFd`, which keeps it open for as long
            // as it is registered, as `register_with_interest` requires.
            Pipe::Out(fd) => {
                match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
                    Ok(registered) => Pipe::Registered(registered),
                    Err(e) => {
                        let (fd, cause) = e.into_parts();
                        self.pipe = Pipe::Out(fd);
                        return Err(cause);
                    }
                }
            }
            other => other,
        };
        let Pipe::Registered(registered) = &self.pipe else {
            return Err(io::Error::other("the command's output is closed"));
        };
        loop {
            let mut ready = registered.readable().await?;
            match ready.try_io(|fd| read_into(fd.get_ref().as_raw_fd(), buf)) {
                Ok(done) => return done,
                // The readiness was stale (an edge from before the last read): wait again.
                Err(_would_block) => continue,
            }
        }
    }

    /// Takes the pipe out of the reactor until the next read has to wait: the source is about
    /// to let output accumulate, and the command's writes meanwhile should not wake it.
    pub(crate) fn gather(&mut self) {
        self.pipe = match self.take() {
            Pipe::Registered(registered) => Pipe::Out(registered.into_inner()),
            other => other,
        };
    }
}

impl CommandOutput {
    fn take(&mut self) -> Pipe {
        std::mem::replace(&mut self.pipe, Pipe::Moving)
    }

    #[cfg(test)]
    fn is_registered(&self) -> bool {
        matches!(self.pipe, Pipe::Registered(_))
    }
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor this struct owns; no memory is passed.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `read(2)` into the spare capacity of `buf` (the framer keeps room there), straight into
/// the buffer the lines are framed from: no intermediate copy, no zero-filling.
fn read_into(fd: RawFd, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() == buf.len() {
        buf.reserve(64 * 1024);
    }
    let spare = buf.chunk_mut();
    let n = loop {
        // SAFETY: `spare` is writable, uninitialised memory of `spare.len()` bytes owned by
        // `buf`; read(2) writes at most that many bytes into it and nothing reads them before
        // `advance_mut` below marks the `n` bytes it wrote as initialised.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        // A signal is no reason to stop reading the command (an error here ends the source's
        // reading of it); a non-blocking read hardly sees one, but it would cost a restart.
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: read(2) initialised exactly `n` bytes at the start of the spare capacity.
    unsafe { buf.advance_mut(n) };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Stdio;
    use std::time::Duration;

    /// Reads what the command wrote, waits for more (registered with the reactor, and again
    /// once registered), and sees the end of input; what was written while the pipe was out of
    /// the reactor is read after the gather.
    #[test]
    fn reads_through_waits_and_gathers_to_the_end_of_input() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut child = tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg("read _; printf 'one\\n'; read _; printf 'two\\n'; read _; printf 'three\\n'; read _; printf 'four\\n'")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin =
                std::fs::File::from(child.stdin.take().unwrap().into_owned_fd().unwrap());
            let mut out = CommandOutput::new(child.stdout.take().unwrap()).unwrap();
            let mut buf = BytesMut::new();
            let read_until =
                async |out: &mut CommandOutput, buf: &mut BytesMut, want: &[u8]| {
                    while !buf.ends_with(want) {
                        let n = tokio::time::timeout(Duration::from_secs(10), out.read_buf(buf))
                            .await
                            .expect("output within 10 s")
                            .unwrap();
                        assert!(n > 0, "end of input before {want:?}: {buf:?}");
                    }
                };
            // `sh` writes each line only after a line of input, so each read below starts
            // before its line exists, finds the pipe empty and waits registered; the `go` is
            // written once it waits (`join!` polls the read first).
            for want in [&b"one\n"[..], b"two\n", b"three\n"] {
                let answer = async { stdin.write_all(b"go\n").unwrap() };
                tokio::join!(read_until(&mut out, &mut buf, want), answer);
                assert!(out.is_registered(), "waited for {want:?} registered");
            }
            out.gather();
            assert!(!out.is_registered(), "out of the reactor while gathering");
            stdin.write_all(b"go\n").unwrap();
            drop(stdin);
            let _ = child.wait().await.unwrap();
            read_until(&mut out, &mut buf, b"four\n").await;
            let n = tokio::time::timeout(Duration::from_secs(10), out.read_buf(&mut buf))
                .await
                .expect("end of input within 10 s")
                .unwrap();
            assert_eq!(n, 0, "end of input after the last line");
            assert_eq!(buf.as_ref(), b"one\ntwo\nthree\nfour\n");
        });
    }
}
