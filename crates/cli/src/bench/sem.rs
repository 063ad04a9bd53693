//! Semaphore wake round trips: an 8-byte slot per direction, signalled by a
//! shmkit [`Semaphore`] (`shmkit-semaphore`) or by a process-shared POSIX
//! `sem_t` (`raw-sem_t`). Ping-pong only.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use super::link::{Link, Patience, SLICE};
use super::transport::{Ctx, Handoff, Transport, err, strategy};
use crate::sys;
use shmkit::{Segment, Semaphore, SharedMemory};

fn arg(args: &[String], i: usize) -> io::Result<&str> {
    args.get(i).map(String::as_str).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing peer argument"))
}

fn word(msg: &[u8]) -> io::Result<u64> {
    let w: [u8; 8] = msg.try_into().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "8-byte messages only"))?;
    Ok(u64::from_le_bytes(w))
}

/// An 8-byte slot per direction signalled by a shmkit [`Semaphore`].
pub struct ShmkitSem;

/// One side of a [`ShmkitSem`] channel.
pub struct ShmkitSemLink {
    mine: Semaphore,
    theirs: Semaphore,
    slots: Segment<[AtomicU64; 2]>,
    out: usize,
}

impl Transport for ShmkitSem {
    type Link = ShmkitSemLink;
    fn create(ctx: &Ctx) -> io::Result<(ShmkitSemLink, Handoff)> {
        let names = [format!("{}.ping", ctx.prefix), format!("{}.pong", ctx.prefix), format!("{}.slots", ctx.prefix)];
        let ping = Semaphore::create(&names[0], 0).map_err(err)?;
        let pong = Semaphore::create(&names[1], 0).map_err(err)?.with_wait_strategy(strategy(ctx.wait));
        let slots = Segment::create(&names[2], [AtomicU64::new(0), AtomicU64::new(0)]).map_err(err)?;
        Ok((ShmkitSemLink { mine: pong, theirs: ping, slots, out: 0 }, Handoff { args: names.to_vec(), fds: vec![] }))
    }

    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<ShmkitSemLink> {
        let ping = Semaphore::open(arg(args, 0)?).map_err(err)?.with_wait_strategy(strategy(ctx.wait));
        let pong = Semaphore::open(arg(args, 1)?).map_err(err)?;
        let slots = Segment::open(arg(args, 2)?).map_err(err)?;
        Ok(ShmkitSemLink { mine: ping, theirs: pong, slots, out: 1 })
    }
}

impl Link for ShmkitSemLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.slots[self.out].store(word(msg)?, Ordering::Release);
        self.theirs.release().map_err(|e| io::Error::other(format!("semaphore release: {e:?}")))
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if !self.mine.acquire_timeout(SLICE) {
            let mut p = Patience::new();
            while !self.mine.acquire_timeout(SLICE) {
                p.check()?;
            }
        }
        buf.copy_from_slice(&self.slots[1 - self.out].load(Ordering::Acquire).to_le_bytes());
        Ok(())
    }
}

/// Layout: two `sem_t` on their own cache lines, then the two slots.
const SEM_AT: [usize; 2] = [0, 64];
const SLOT_AT: [usize; 2] = [128, 192];
const SEM_SEGMENT: usize = 256;

/// An 8-byte slot per direction signalled by a process-shared `sem_t`.
pub struct PosixSem;

/// One side of a [`PosixSem`] channel.
pub struct PosixSemLink {
    seg: SharedMemory,
    /// Index of the direction we send on.
    out: usize,
}

// SAFETY: the link only holds the segment; the semaphores and slots in it
// are made for use from any thread of any process.
unsafe impl Send for PosixSemLink {}

const _: () = assert!(std::mem::size_of::<libc::sem_t>() <= 64);

impl PosixSemLink {
    fn sem(&self, i: usize) -> *mut libc::sem_t {
        // SAFETY: SEM_AT[i] + 64 <= SEM_SEGMENT, the size of the segment
        // (checked at create and open).
        unsafe { self.seg.as_ptr().add(SEM_AT[i]).cast() }
    }

    fn slot(&self, i: usize) -> &AtomicU64 {
        // SAFETY: SLOT_AT[i] + 8 <= SEM_SEGMENT and 64-aligned (the block
        // is); the segment lives as long as `self`.
        unsafe { &*self.seg.as_ptr().add(SLOT_AT[i]).cast::<AtomicU64>() }
    }
}

impl Transport for PosixSem {
    type Link = PosixSemLink;
    fn create(ctx: &Ctx) -> io::Result<(PosixSemLink, Handoff)> {
        let name = format!("{}.sems", ctx.prefix);
        let seg = SharedMemory::create(&name, SEM_SEGMENT).map_err(err)?;
        let link = PosixSemLink { seg, out: 0 };
        for i in 0..SEM_AT.len() {
            // SAFETY: zeroed, 64-aligned room for a sem_t inside the block;
            // the peer that will use it is started only after we return.
            unsafe { sys::sem_init_shared(link.sem(i), 0)? };
        }
        Ok((link, Handoff { args: vec![name], fds: vec![] }))
    }

    fn open(_ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<PosixSemLink> {
        let seg = SharedMemory::open(arg(args, 0)?).map_err(err)?;
        if seg.len() != SEM_SEGMENT {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} is not a sem_t pair", seg.name())));
        }
        Ok(PosixSemLink { seg, out: 1 })
    }
}

impl Link for PosixSemLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.slot(self.out).store(word(msg)?, Ordering::Release);
        // SAFETY: initialized by the creator before the peer started.
        unsafe { sys::sem_post(self.sem(self.out)) }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mine = self.sem(1 - self.out);
        // SAFETY: as in send.
        if !unsafe { sys::sem_wait_for(mine, SLICE)? } {
            let mut p = Patience::new();
            // SAFETY: as above.
            while !unsafe { sys::sem_wait_for(mine, SLICE)? } {
                p.check()?;
            }
        }
        buf.copy_from_slice(&self.slot(1 - self.out).load(Ordering::Acquire).to_le_bytes());
        Ok(())
    }
}
