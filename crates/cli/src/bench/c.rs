//! C peers: `c-spsc` (two single-producer `Queue<u64>`, 8-byte messages:
//! the C ABI's queues carry built-in element types), `c-spsc-batch` (the
//! same queues, each side sending and receiving batches of up to 64) and
//! `c-bytequeue` (two `ByteQueue`s, copy in and out). The measuring side
//! is the same Rust code as `shmkit-spsc`, `shmkit-spsc-batch` and
//! `shmkit-bytequeue`; the peer process runs `c_peer.c`, whose loop calls
//! the C ABI (shmkit-ffi, linked into this binary): one call a message, or
//! `shmkit_receiver_recv_batch` / `shmkit_sender_send_batch` a batch.
//! Compare them with those Rust rows of the same run.
//!
//! Without a C compiler at build time (`shmkit_c_peer` unset, see
//! build.rs) the run skips these rows with one note.

use std::io;
use std::os::fd::OwnedFd;

use super::link::Link;
use super::queue::{Batches, SPSC, SPSC_BATCH, recv_patiently, send_patiently};
use super::transport::{Ctx, Entry, Handoff, Transport, err, measure, strategy};
use shmkit::{Queue, Receiver, Sender};

/// `kind` of `c_peer_run`: two `Queue<u64>`.
const C_SPSC: i32 = 0;
/// `kind` of `c_peer_run`: two `ByteQueue`s.
const C_BYTEQUEUE: i32 = 1;
/// `kind` of `c_peer_run`: two `Queue<u64>`, batches.
const C_SPSC_BATCH: i32 = 2;

/// Queue slots per direction (as `shmkit-spsc` has for 8-byte messages).
const SLOTS: usize = 1024;

/// `c-spsc` (`M` = `SPSC`) and `c-spsc-batch` (`SPSC_BATCH`): the
/// parent's side over two single-producer `Queue<u64>`.
pub struct CSpsc<const M: u8>;

/// One side of `c-spsc` or `c-spsc-batch`.
pub struct U64Link<const M: u8> {
    tx: Sender<u64>,
    rx: Receiver<u64>,
    batches: Batches<u64>,
    _queues: [Queue<u64>; 2],
}

fn c_side() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "the peer side of a C row runs in C")
}

impl<const M: u8> Transport for CSpsc<M> {
    type Link = U64Link<M>;
    fn create(ctx: &Ctx) -> io::Result<(U64Link<M>, Handoff)> {
        let cap = super::shm::ring_slots(8, 1 << 20, SLOTS).max(4);
        let (a, b) = (format!("{}.p2c", ctx.prefix), format!("{}.c2p", ctx.prefix));
        let p2c = Queue::<u64>::create_spsc(&a, cap).map_err(err)?;
        let c2p = Queue::<u64>::create_spsc(&b, cap).map_err(err)?;
        let s = strategy(ctx.wait);
        let link = U64Link {
            tx: p2c.sender().map_err(err)?.with_wait_strategy(s),
            rx: c2p.receiver().map_err(err)?.with_wait_strategy(s),
            batches: Batches::new(M == SPSC_BATCH),
            _queues: [p2c, c2p],
        };
        Ok((link, Handoff { args: vec![a, b], fds: Vec::new() }))
    }

    fn open(_: &Ctx, _: &[String], _: Vec<OwnedFd>) -> io::Result<U64Link<M>> {
        Err(c_side())
    }
}

impl<const M: u8> Link for U64Link<M> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let v: [u8; 8] =
            msg.try_into().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wrong message size"))?;
        if M == SPSC_BATCH {
            return self.batches.send(&self.tx, u64::from_le_bytes(v));
        }
        send_patiently(&self.tx, u64::from_le_bytes(v))
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let v = if M == SPSC_BATCH {
            self.batches.take(&self.tx, &self.rx)?
        } else {
            recv_patiently(&self.rx)?
                .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "queue disconnected: the peer has gone"))?
        };
        buf.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }
}

impl<const M: u8> Drop for U64Link<M> {
    fn drop(&mut self) {
        let _ = self.batches.flush(&self.tx);
    }
}

/// `c-bytequeue`: the parent's side is `shmkit-bytequeue`'s.
pub struct CBytes;

impl Transport for CBytes {
    type Link = super::bytes::BytesLink<false>;
    fn create(ctx: &Ctx) -> io::Result<(Self::Link, Handoff)> {
        super::bytes::Bytes::<false>::create(ctx)
    }

    fn open(_: &Ctx, _: &[String], _: Vec<OwnedFd>) -> io::Result<Self::Link> {
        Err(c_side())
    }
}

/// Peer side of `c-spsc`.
pub fn serve_spsc(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<()> {
    run(C_SPSC, ctx, args)
}

/// Peer side of `c-spsc-batch`.
pub fn serve_spsc_batch(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<()> {
    run(C_SPSC_BATCH, ctx, args)
}

/// Peer side of `c-bytequeue`.
pub fn serve_bytes(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<()> {
    run(C_BYTEQUEUE, ctx, args)
}

#[cfg(shmkit_c_peer)]
mod ffi {
    // The shmkit_* functions c_peer.c calls: linking the crate keeps them.
    use shmkit_ffi as _;

    unsafe extern "C" {
        /// c_peer.c: opens the channel, calls `ready`, serves until STOP.
        pub(super) fn c_peer_run(
            kind: i32,
            p2c: *const std::ffi::c_char,
            c2p: *const std::ffi::c_char,
            size: usize,
            echo: i32,
            wait: u32,
            parent: u32,
            ready: extern "C" fn() -> i32,
            err: *mut std::ffi::c_char,
            errcap: usize,
        ) -> i32;
    }
}

/// Called by the C peer once its side is open.
#[cfg(shmkit_c_peer)]
extern "C" fn ready() -> i32 {
    if super::peer_ready().is_ok() { 0 } else { 1 }
}

#[cfg(shmkit_c_peer)]
fn run(kind: i32, ctx: &Ctx, args: &[String]) -> io::Result<()> {
    use std::ffi::{CStr, CString};
    let name = |i: usize| {
        let s = args.get(i).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing segment name"))?;
        CString::new(s.as_str()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in a segment name"))
    };
    let (p2c, c2p) = (name(0)?, name(1)?);
    let wait = match strategy(ctx.wait) {
        shmkit::WaitStrategy::Spin => shmkit_ffi::SHMKIT_WAIT_SPIN,
        shmkit::WaitStrategy::Park => shmkit_ffi::SHMKIT_WAIT_PARK,
        _ => shmkit_ffi::SHMKIT_WAIT_ADAPTIVE,
    };
    let echo = i32::from(ctx.pattern == super::Pattern::PingPong);
    let mut msg = [0u8; 512];
    // SAFETY: the names are NUL-terminated and outlive the call, `msg` is
    // writable for its length, and `ready` is a plain function.
    let rc = unsafe {
        ffi::c_peer_run(
            kind,
            p2c.as_ptr(),
            c2p.as_ptr(),
            ctx.size,
            echo,
            wait,
            std::os::unix::process::parent_id(),
            ready,
            msg.as_mut_ptr().cast(),
            msg.len(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let text = CStr::from_bytes_until_nul(&msg).map_or("no message".into(), CStr::to_string_lossy);
    Err(io::Error::other(format!("C peer: {text}")))
}

#[cfg(not(shmkit_c_peer))]
fn run(_: i32, _: &Ctx, _: &[String]) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "built without a C compiler"))
}

/// Whether the C peer was built in.
pub const BUILT: bool = cfg!(shmkit_c_peer);

/// The registry entry of `c-spsc` with wait strategy `wait`.
pub fn spsc_entry(wait: &'static str) -> Entry {
    Entry::new("c-spsc", wait, measure::<CSpsc<SPSC>>, serve_spsc)
        .sizes(&[8])
        .describe("C peer (c_peer.c over the C ABI): two single-producer Queue<u64>, 8 B; compare shmkit-spsc")
}

/// The registry entry of `c-spsc-batch` (spinning, as `shmkit-spsc-batch`).
pub fn spsc_batch_entry() -> Entry {
    Entry::new("c-spsc-batch", "spin", measure::<CSpsc<SPSC_BATCH>>, serve_spsc_batch).sizes(&[8]).describe(
        "C peer (c_peer.c over the C ABI): two single-producer Queue<u64>, 8 B, recv_batch/send_batch of up to 64; compare shmkit-spsc-batch",
    )
}

/// The registry entry of `c-bytequeue` with wait strategy `wait`.
pub fn bytes_entry(wait: &'static str) -> Entry {
    Entry::new("c-bytequeue", wait, measure::<CBytes>, serve_bytes)
        .describe("C peer (c_peer.c over the C ABI): two ByteQueues, copy in and out; compare shmkit-bytequeue")
}
