//! Transports over shmkit's byte rings: `shmkit-bytequeue` (two
//! [`ByteQueue`]s, copy in and out), `shmkit-grant` (the same, zero-copy:
//! written and read in place) and `shmkit-pipe` (one [`Pipe`]).

use std::io;
use std::os::fd::OwnedFd;

use super::link::{Link, Patience, SLICE};
use super::transport::{Ctx, Handoff, Transport, err, strategy};
use shmkit::queue::{ByteRecvError, ByteSendError};
use shmkit::{ByteQueue, ByteReceiver, ByteSender, Connection, OpenOptions, Pipe};

/// Bytes of ring per direction: 1 MiB, or room for four of the largest
/// messages.
fn ring_bytes(size: usize) -> usize {
    (1 << 20).max(4 * (size + 8))
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the peer's end has gone")
}

fn send_err(e: ByteSendError) -> io::Error {
    match e {
        ByteSendError::Disconnected => gone(),
        e => io::Error::other(e.to_string()),
    }
}

fn recv_err(e: ByteRecvError) -> io::Error {
    match e {
        ByteRecvError::Disconnected => gone(),
        e => io::Error::other(e.to_string()),
    }
}

/// Retries `attempt` (which waits at most [`SLICE`]) until it succeeds,
/// checking between slices that the run goes on.
#[inline]
fn patiently<T, E>(
    mut attempt: impl FnMut() -> Result<T, E>,
    slow: impl Fn(&E) -> bool,
    fail: impl Fn(E) -> io::Error,
) -> io::Result<T> {
    let mut p = Patience::new();
    loop {
        match attempt() {
            Ok(v) => return Ok(v),
            Err(e) if slow(&e) => p.check()?,
            Err(e) => return Err(fail(e)),
        }
    }
}

fn arg(args: &[String], i: usize) -> io::Result<&str> {
    args.get(i).map(String::as_str).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing segment name"))
}

/// One side over two byte queues: a sender into one, a receiver from the
/// other. `ZERO_COPY` writes and reads the message in place (only its
/// 8-byte sequence number is touched) instead of copying it.
pub struct BytesLink<const ZERO_COPY: bool> {
    tx: ByteSender,
    rx: ByteReceiver,
    _queues: [ByteQueue; 2],
}

/// `shmkit-bytequeue` (`ZERO_COPY = false`) and `shmkit-grant` (`true`).
pub struct Bytes<const ZERO_COPY: bool>;

impl<const Z: bool> Bytes<Z> {
    fn link(ctx: &Ctx, tx_q: ByteQueue, rx_q: ByteQueue) -> io::Result<BytesLink<Z>> {
        let s = strategy(ctx.wait);
        Ok(BytesLink {
            tx: tx_q.sender().map_err(err)?.with_wait_strategy(s),
            rx: rx_q.receiver().map_err(err)?.with_wait_strategy(s),
            _queues: [tx_q, rx_q],
        })
    }
}

impl<const Z: bool> Transport for Bytes<Z> {
    type Link = BytesLink<Z>;
    fn create(ctx: &Ctx) -> io::Result<(BytesLink<Z>, Handoff)> {
        let (a, b) = (format!("{}.p2c", ctx.prefix), format!("{}.c2p", ctx.prefix));
        let p2c = ByteQueue::create(&a, ring_bytes(ctx.size)).map_err(err)?;
        let c2p = ByteQueue::create(&b, ring_bytes(ctx.size)).map_err(err)?;
        Ok((Self::link(ctx, p2c, c2p)?, Handoff { args: vec![a, b], fds: Vec::new() }))
    }

    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<BytesLink<Z>> {
        let p2c = ByteQueue::open(arg(args, 0)?).map_err(err)?;
        let c2p = ByteQueue::open(arg(args, 1)?).map_err(err)?;
        Self::link(ctx, c2p, p2c)
    }
}

impl<const Z: bool> Link for BytesLink<Z> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let tx = &mut self.tx;
        if !Z {
            return match tx.try_send(msg) {
                Err(ByteSendError::Full) => {
                    patiently(|| tx.send_timeout(msg, SLICE), |e| *e == ByteSendError::Timeout, send_err)
                }
                other => other.map_err(send_err),
            };
        }
        // Zero-copy rows spin: wait for room by polling try_reserve.
        let mut p = Patience::new();
        loop {
            match tx.try_reserve(msg.len()) {
                Ok(mut grant) => {
                    grant[..8].copy_from_slice(&msg[..8]);
                    grant.commit();
                    return Ok(());
                }
                Err(ByteSendError::Full) => p.spin()?,
                Err(e) => return Err(send_err(e)),
            }
        }
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let rx = &mut self.rx;
        if !Z {
            let n = match rx.try_recv_into(buf) {
                Err(ByteRecvError::Empty) => {
                    patiently(|| rx.recv_into_timeout(buf, SLICE), |e| *e == ByteRecvError::Timeout, recv_err)?
                }
                other => other.map_err(recv_err)?,
            };
            return if n == buf.len() { Ok(()) } else { Err(io::Error::other("short message")) };
        }
        let mut p = Patience::new();
        loop {
            match rx.try_recv_ref() {
                Ok(grant) if grant.len() == buf.len() => {
                    buf[..8].copy_from_slice(&grant[..8]);
                    return Ok(());
                }
                Ok(_) => return Err(io::Error::other("short message")),
                Err(ByteRecvError::Empty) => p.spin()?,
                Err(e) => return Err(recv_err(e)),
            }
        }
    }
}

/// `shmkit-pipe`: one [`Pipe`], one [`Connection`] per side.
pub struct PipeT;

/// One end of the pipe.
pub struct PipeLink {
    conn: Connection,
    _pipe: Pipe,
}

impl PipeT {
    fn link(ctx: &Ctx, pipe: Pipe) -> io::Result<PipeLink> {
        let conn = pipe.connect().map_err(err)?.with_wait_strategy(strategy(ctx.wait));
        Ok(PipeLink { conn, _pipe: pipe })
    }
}

impl Transport for PipeT {
    type Link = PipeLink;
    fn create(ctx: &Ctx) -> io::Result<(PipeLink, Handoff)> {
        let name = format!("{}.pipe", ctx.prefix);
        let pipe = Pipe::create_with(&name, ring_bytes(ctx.size), &OpenOptions::default()).map_err(err)?;
        Ok((Self::link(ctx, pipe)?, Handoff { args: vec![name], fds: Vec::new() }))
    }

    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<PipeLink> {
        Self::link(ctx, Pipe::open(arg(args, 0)?).map_err(err)?)
    }
}

impl Link for PipeLink {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let conn = &mut self.conn;
        match conn.try_send(msg) {
            Err(ByteSendError::Full) => {
                patiently(|| conn.send_timeout(msg, SLICE), |e| *e == ByteSendError::Timeout, send_err)
            }
            other => other.map_err(send_err),
        }
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let conn = &mut self.conn;
        let n = match conn.try_recv_into(buf) {
            Err(ByteRecvError::Empty) => {
                patiently(|| conn.recv_into_timeout(buf, SLICE), |e| *e == ByteRecvError::Timeout, recv_err)?
            }
            other => other.map_err(recv_err)?,
        };
        if n == buf.len() { Ok(()) } else { Err(io::Error::other("short message")) }
    }
}
