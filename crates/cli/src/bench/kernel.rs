//! Kernel transports: pipes, Unix sockets, and eventfd-signalled shared
//! memory. Descriptors are non-blocking; a call that would block sleeps in
//! `poll()` in slices of [`SLICE`], so a dead or hung peer or a Ctrl-C is
//! noticed (one extra syscall per sleep, the same for every transport here).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net;

use super::link::{Link, Patience, SLICE};
use super::shm::{ShmRing, ring_slots};
use super::transport::{Ctx, Handoff, Transport};
use crate::sys;

/// Sleeps until `fd` is ready for `events`, checking the run's limits.
fn wait_ready(fd: &impl AsFd, events: i16, p: &mut Patience) -> io::Result<()> {
    if !sys::poll_one(fd.as_fd(), events, SLICE)? {
        p.check()?;
    }
    Ok(())
}

fn would_block(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

fn closed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, format!("{what}: the peer closed the channel"))
}

fn missing_fd() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "a descriptor was not passed to the peer")
}

/// Writes all of `msg`, polling when the descriptor is full.
fn write_all(f: &File, msg: &[u8]) -> io::Result<()> {
    let mut done = 0;
    let mut p = Patience::new();
    while done < msg.len() {
        match (&*f).write(&msg[done..]) {
            Ok(0) => return Err(closed("write")),
            Ok(n) => done += n,
            Err(e) if would_block(&e) => wait_ready(f, libc::POLLOUT, &mut p)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes, polling when nothing is there.
fn read_exact(f: &File, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    let mut p = Patience::new();
    while done < buf.len() {
        match (&*f).read(&mut buf[done..]) {
            Ok(0) => return Err(closed("read")),
            Ok(n) => done += n,
            Err(e) if would_block(&e) => wait_ready(f, libc::POLLIN, &mut p)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A byte-stream link: one descriptor to read, one to write (the same
/// socket twice for a Unix stream).
pub struct ByteStream {
    rd: File,
    wr: File,
}

impl Link for ByteStream {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        write_all(&self.wr, msg)
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        read_exact(&self.rd, buf)
    }
}

/// Two pipes, one per direction.
pub struct Pipe;

impl Transport for Pipe {
    type Link = ByteStream;
    fn create(_ctx: &Ctx) -> io::Result<(ByteStream, Handoff)> {
        let (p2c_r, p2c_w) = sys::pipe()?;
        let (c2p_r, c2p_w) = sys::pipe()?;
        let link = ByteStream { rd: File::from(c2p_r), wr: File::from(p2c_w) };
        Ok((link, Handoff { args: Vec::new(), fds: vec![p2c_r, c2p_w] }))
    }

    fn open(_ctx: &Ctx, _args: &[String], fds: Vec<OwnedFd>) -> io::Result<ByteStream> {
        let mut fds = fds.into_iter();
        let (rd, wr) = (fds.next().ok_or_else(missing_fd)?, fds.next().ok_or_else(missing_fd)?);
        Ok(ByteStream { rd: File::from(rd), wr: File::from(wr) })
    }
}

/// A connected pair of Unix stream sockets.
pub struct UnixStream;

fn stream_link(sock: OwnedFd) -> io::Result<ByteStream> {
    sys::set_nonblocking(sock.as_fd())?;
    let wr = File::from(sock.try_clone()?);
    Ok(ByteStream { rd: File::from(sock), wr })
}

impl Transport for UnixStream {
    type Link = ByteStream;
    fn create(_ctx: &Ctx) -> io::Result<(ByteStream, Handoff)> {
        let (mine, theirs) = net::UnixStream::pair()?;
        let link = stream_link(OwnedFd::from(mine))?;
        Ok((link, Handoff { args: Vec::new(), fds: vec![OwnedFd::from(theirs)] }))
    }

    fn open(_ctx: &Ctx, _args: &[String], fds: Vec<OwnedFd>) -> io::Result<ByteStream> {
        stream_link(fds.into_iter().next().ok_or_else(missing_fd)?)
    }
}

/// A connected pair of Unix datagram sockets: one datagram per message.
pub struct UnixDgram;

/// One side of a [`UnixDgram`] channel.
pub struct DgramLink(net::UnixDatagram);

impl Transport for UnixDgram {
    type Link = DgramLink;
    fn create(_ctx: &Ctx) -> io::Result<(DgramLink, Handoff)> {
        let (mine, theirs) = net::UnixDatagram::pair()?;
        mine.set_nonblocking(true)?;
        Ok((DgramLink(mine), Handoff { args: Vec::new(), fds: vec![OwnedFd::from(theirs)] }))
    }

    fn open(_ctx: &Ctx, _args: &[String], fds: Vec<OwnedFd>) -> io::Result<DgramLink> {
        let sock = net::UnixDatagram::from(fds.into_iter().next().ok_or_else(missing_fd)?);
        sock.set_nonblocking(true)?;
        Ok(DgramLink(sock))
    }
}

impl Link for DgramLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let mut p = Patience::new();
        loop {
            match self.0.send(msg) {
                Ok(n) if n == msg.len() => return Ok(()),
                Ok(n) => return Err(io::Error::other(format!("datagram cut to {n} bytes"))),
                // ENOBUFS: the receiver's queue is full; wait like EAGAIN.
                Err(e) if would_block(&e) || e.raw_os_error() == Some(libc::ENOBUFS) => {
                    wait_ready(&self.0, libc::POLLOUT, &mut p)?
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut p = Patience::new();
        loop {
            match self.0.recv(buf) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(0) => return Err(closed("recv")),
                Ok(n) => return Err(io::Error::other(format!("datagram of {n} bytes, expected {}", buf.len()))),
                Err(e) if would_block(&e) => wait_ready(&self.0, libc::POLLIN, &mut p)?,
                Err(e) => return Err(e),
            }
        }
    }
}

/// A ring per direction in shared memory; per direction one eventfd counts
/// messages (written by the producer) and one counts free slots (written by
/// the consumer). A side sleeps in the kernel until the count it needs is
/// non-zero and takes all of it at once.
pub struct Eventfd;

/// One side of an [`Eventfd`] channel.
pub struct EventfdLink {
    ring: ShmRing,
    /// We write: a message is ready for the peer.
    data_out: File,
    /// We read: messages ready for us.
    data_in: File,
    /// We write: a slot the peer sent into is free again.
    space_out: File,
    /// We read: slots free for our messages.
    space_in: File,
    credits: u64,
    ready: u64,
}

/// Bytes of ring space per direction for eventfd.
const EVENTFD_RING_BYTES: usize = 1 << 20;

fn efd_add(f: &File, n: u64) -> io::Result<()> {
    (&*f).write_all(&n.to_ne_bytes())
}

/// Takes the whole count of an eventfd, sleeping while it is zero.
fn efd_take(f: &File) -> io::Result<u64> {
    let mut p = Patience::new();
    let mut b = [0u8; 8];
    loop {
        match (&*f).read(&mut b) {
            Ok(8) => return Ok(u64::from_ne_bytes(b)),
            Ok(_) => return Err(io::Error::other("short eventfd read")),
            Err(e) if would_block(&e) => wait_ready(f, libc::POLLIN, &mut p)?,
            Err(e) => return Err(e),
        }
    }
}

impl Transport for Eventfd {
    type Link = EventfdLink;
    fn create(ctx: &Ctx) -> io::Result<(EventfdLink, Handoff)> {
        let cap = ring_slots(ctx.size, EVENTFD_RING_BYTES, 256);
        let name = format!("{}.ring", ctx.prefix);
        let ring = ShmRing::create(&name, ctx.size, cap)?;
        let cap32 = u32::try_from(cap).map_err(io::Error::other)?;
        // Per direction: data (starts at 0) and space (starts at cap).
        let (p2c_data, p2c_space, c2p_data, c2p_space) =
            (sys::eventfd(0)?, sys::eventfd(cap32)?, sys::eventfd(0)?, sys::eventfd(cap32)?);
        let fds = vec![p2c_data.try_clone()?, p2c_space.try_clone()?, c2p_data.try_clone()?, c2p_space.try_clone()?];
        let link = EventfdLink {
            ring,
            data_out: File::from(p2c_data),
            space_in: File::from(p2c_space),
            data_in: File::from(c2p_data),
            space_out: File::from(c2p_space),
            credits: 0,
            ready: 0,
        };
        Ok((link, Handoff { args: vec![name, cap.to_string()], fds }))
    }

    fn open(ctx: &Ctx, args: &[String], fds: Vec<OwnedFd>) -> io::Result<EventfdLink> {
        let name = args.first().ok_or_else(missing_fd)?;
        let cap: usize = args.get(1).and_then(|c| c.parse().ok()).ok_or_else(missing_fd)?;
        let ring = ShmRing::open(name, ctx.size, cap)?;
        let mut fds = fds.into_iter().map(File::from);
        let mut next = || fds.next().ok_or_else(missing_fd);
        let (p2c_data, p2c_space, c2p_data, c2p_space) = (next()?, next()?, next()?, next()?);
        Ok(EventfdLink {
            ring,
            data_in: p2c_data,
            space_out: p2c_space,
            data_out: c2p_data,
            space_in: c2p_space,
            credits: 0,
            ready: 0,
        })
    }
}

impl Link for EventfdLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        if self.credits == 0 {
            self.credits = efd_take(&self.space_in)?;
        }
        self.credits -= 1;
        self.ring.push_free(msg)?;
        efd_add(&self.data_out, 1)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if self.ready == 0 {
            self.ready = efd_take(&self.data_in)?;
        }
        self.ready -= 1;
        self.ring.pop_ready(buf)?;
        efd_add(&self.space_out, 1)
    }
}
