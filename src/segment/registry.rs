//! The liveness registry: who, among the handles attached to a segment, is
//! still alive.
//!
//! A handle that needs to be known as alive (a lock owner, a queue endpoint)
//! claims a *slot*: it takes an open-file-description (OFD) write lock on the
//! byte `LOCK_BASE + slot` of the segment file, then bumps the slot's
//! generation word in the segment. The kernel drops the OFD lock when the
//! last descriptor of that open file is closed, so also when the process
//! dies, however it dies; a PID that is reused, a zombie or another PID
//! namespace cannot fool it (`kill(pid, 0)` is fooled by all three).
//!
//! A holder is identified by a [`Token`]: its slot and the generation it set.
//! A token is alive while the slot's OFD lock is held *and* the generation is
//! still the token's; once the slot is reclaimed by another handle the
//! generation moves on, so an old token never looks alive again.
//!
//! Checks err only toward "alive": a token is reported dead only when its
//! slot's lock is gone or its generation was replaced, both of which happen
//! only after its holder released the slot or died.

use std::io;
use std::os::fd::BorrowedFd;

use crate::sys;
use std::sync::atomic::{AtomicU32, Ordering};

pub use super::token::{MAX_SLOTS, Token};

/// Slots a segment gets unless told otherwise.
pub const DEFAULT_SLOTS: u32 = 256;
/// File offset of slot 0's lock byte. Far past the end of any segment: POSIX
/// locks may cover bytes beyond EOF, so the lock bytes take no memory.
const LOCK_BASE: u64 = 1 << 40;

/// Who is acting, and how to tell whether another holder is alive: what a
/// robust primitive needs from the segment it lives in.
pub(crate) trait Liveness {
    /// This handle's token.
    fn token(&self) -> Token;
    /// Whether the holder named by `token` is alive. Must never say `false`
    /// for a live holder; may say `true` for a dead one for a while.
    fn is_alive(&self, token: Token) -> bool;
}

/// A slot held by this handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    token: Token,
}

impl Registration {
    /// The registration a token names (the holder's own, kept by a handle).
    #[inline]
    pub(crate) fn from_token(token: Token) -> Registration {
        Registration { token }
    }

    /// The slot index.
    pub fn slot(self) -> u32 {
        self.token.slot()
    }

    /// The token that names this holder in lock words: slot and generation.
    pub fn token(self) -> Token {
        self.token
    }
}

/// Claims a free slot: the first whose lock byte no live handle holds,
/// scanning from `hint` so that processes spread out.
///
/// Returns `Ok(None)` when every slot is held.
pub fn register(fd: BorrowedFd<'_>, generations: &[AtomicU32], hint: u32) -> io::Result<Option<Registration>> {
    let n = generations.len() as u32;
    if n == 0 {
        return Ok(None);
    }
    for i in 0..n {
        let slot = (hint.wrapping_add(i)) % n;
        if sys::ofd_try_lock(fd, LOCK_BASE + u64::from(slot))? {
            // We hold the slot's lock, so no live handle can be bumping this
            // word now. Release: a checker that sees the new generation also
            // sees our lock (taken before, in the kernel).
            let generation = generations[slot as usize].fetch_add(1, Ordering::AcqRel).wrapping_add(1);
            return Ok(Some(Registration { token: Token::from_slot_generation(slot, generation) }));
        }
    }
    Ok(None)
}

/// Whether the holder named by `token` is alive. `mine` is this handle's own
/// registration: the kernel does not report a description's own locks as
/// conflicts, so our own token must be recognised here.
///
/// A token whose slot is out of range (a corrupted word) is dead.
/// An OS error is taken as "alive": never declare a live holder dead.
pub fn is_alive(fd: BorrowedFd<'_>, generations: &[AtomicU32], token: Token, mine: Option<Registration>) -> bool {
    if mine.is_some_and(|m| m.token() == token) {
        return true;
    }
    let slot = token.slot();
    let Some(word) = generations.get(slot as usize) else {
        return false;
    };
    match sys::ofd_is_locked(fd, LOCK_BASE + u64::from(slot)) {
        Ok(false) => false,
        // The slot is held: by our token's holder only if the generation is
        // still its own. A new holder bumps it right after taking the lock,
        // so in that short window we may still say "alive": the caller polls
        // again later.
        Ok(true) => token.is_generation(word.load(Ordering::Acquire)),
        Err(_) => true,
    }
}

/// Whether `slot` is held by any live handle other than ourselves.
pub fn slot_held(fd: BorrowedFd<'_>, slot: u32) -> io::Result<bool> {
    sys::ofd_is_locked(fd, LOCK_BASE + u64::from(slot))
}
