//! [`sigbus_guard`]: a legible death for an access to a truncated segment.
//!
//! A process of the same user may `ftruncate` a segment file that others
//! have mapped; their next access to a page past the new end faults with
//! SIGBUS, as with every crate that maps POSIX shared-memory files. shmkit
//! cannot turn that fault into an error soundly (the access may be any
//! load or store, in the middle of a protocol), so the process still dies;
//! with the guard, it first writes one line naming the segment.
//!
//! Every mapping of a segment is recorded in a fixed table of
//! [`ENTRIES`] entries (start, length, name), kept without allocation or
//! locks so that the handler can read it: a mapping is recorded when a
//! handle is made and forgotten before it is unmapped. A segment made while
//! the table is full is not recorded; a fault in it is reported as a SIGBUS
//! outside shmkit.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::error::Error;
use crate::name::MAX_NAME_LEN;
use crate::sys;

/// Mappings recorded at once.
const ENTRIES: usize = 256;

/// One recorded mapping. `start == 0` is a free entry; a writer claims a
/// free entry by CAS of `start` from 0 to 1 (no mapping starts at 1), fills
/// in the name and length, then publishes the real start (Release).
struct Entry {
    start: AtomicUsize,
    len: AtomicUsize,
    name_len: AtomicUsize,
    name: [AtomicU8; MAX_NAME_LEN],
}

impl Entry {
    const fn new() -> Entry {
        Entry {
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            name_len: AtomicUsize::new(0),
            name: [const { AtomicU8::new(0) }; MAX_NAME_LEN],
        }
    }
}

/// Marks an entry being filled in.
const CLAIMED: usize = 1;

static TABLE: [Entry; ENTRIES] = [const { Entry::new() }; ENTRIES];

/// A segment mapping recorded for the guard; forgotten on drop, which must
/// come before the unmap.
#[derive(Debug)]
pub(crate) struct Record(Option<usize>);

impl Record {
    /// Records the mapping `start..start + len` of the segment `name`.
    pub(crate) fn new(name: &str, start: *const u8, len: usize) -> Record {
        let start = start as usize;
        if start <= CLAIMED {
            return Record(None);
        }
        let claimed = TABLE
            .iter()
            .position(|e| e.start.compare_exchange(0, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_ok());
        let Some(i) = claimed else { return Record(None) };
        let entry = &TABLE[i];
        let bytes = &name.as_bytes()[..name.len().min(MAX_NAME_LEN)];
        for (slot, &b) in entry.name.iter().zip(bytes) {
            slot.store(b, Ordering::Relaxed);
        }
        entry.name_len.store(bytes.len(), Ordering::Relaxed);
        entry.len.store(len, Ordering::Relaxed);
        // Release: a handler that sees the start sees the name and length.
        entry.start.store(start, Ordering::Release);
        Record(Some(i))
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            TABLE[i].start.store(0, Ordering::Release);
        }
    }
}

/// The hook of the SIGBUS handler: if `addr` lies in a recorded mapping,
/// writes one line naming the segment and aborts. Async-signal-safe: atomic
/// loads, a stack buffer and `write(2)`.
fn on_fault(addr: usize) {
    for entry in &TABLE {
        let start = entry.start.load(Ordering::Acquire);
        if start <= CLAIMED || addr < start || addr - start >= entry.len.load(Ordering::Relaxed) {
            continue;
        }
        let mut line = Line::new();
        line.push(b"shmkit: SIGBUS: segment '");
        let n = entry.name_len.load(Ordering::Relaxed).min(MAX_NAME_LEN);
        for b in &entry.name[..n] {
            line.push(&[b.load(Ordering::Relaxed)]);
        }
        line.push(b"' (/dev/shm/shmkit.");
        for b in &entry.name[..n] {
            line.push(&[b.load(Ordering::Relaxed)]);
        }
        line.push(b") was accessed at offset ");
        line.number(addr - start);
        line.push(b" beyond the end of its file: another process truncated it; aborting\n");
        sys::write_stderr(line.bytes());
        sys::abort();
    }
}

/// A line built without allocation.
struct Line {
    buf: [u8; 640],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line { buf: [0; 640], len: 0 }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn number(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Installs, for the whole process, a SIGBUS handler that makes the death
/// of a process touching a truncated segment legible. Opt-in; call it once
/// early (later calls do nothing).
///
/// Another process of the same user may shrink a segment file (`ftruncate`)
/// that this process maps; the next access past the new end faults with
/// SIGBUS. shmkit cannot turn that into an error (the access may be any
/// load or store, in the middle of a protocol), so the process still dies;
/// with the guard, it first writes one line on stderr naming the segment,
/// such as
///
/// ```text
/// shmkit: SIGBUS: segment 'jobs' (/dev/shm/shmkit.jobs) was accessed at offset 8192 beyond the end of its file: another process truncated it; aborting
/// ```
///
/// and then aborts (SIGABRT). A SIGBUS at an address outside every shmkit
/// mapping goes to the handler installed before, or to the default action.
/// The handler writes with `write(2)` only and reads a fixed table of
/// mappings kept without locks; up to 256 mappings are recorded at once
/// (a fault in one made while the table was full is passed on as not
/// shmkit's).
///
/// ```
/// shmkit::sigbus_guard()?;
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] if the handler could not be installed.
pub fn sigbus_guard() -> Result<(), Error> {
    sys::install_sigbus_hook(on_fault).map(drop).map_err(|e| Error::Io {
        op: "install the SIGBUS guard for",
        name: "*".to_owned(),
        source: e,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_and_forgotten() {
        let base = 0x7000_0000_0000usize;
        let r = Record::new("unit-sigbus", base as *const u8, 4096);
        let i = r.0.expect("a free entry");
        assert_eq!(TABLE[i].start.load(Ordering::Relaxed), base);
        assert_eq!(TABLE[i].name_len.load(Ordering::Relaxed), "unit-sigbus".len());
        drop(r);
        assert_eq!(TABLE[i].start.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn numbers_render_without_allocation() {
        let mut line = Line::new();
        line.number(0);
        line.push(b" ");
        line.number(8192);
        line.push(b" ");
        line.number(usize::MAX);
        assert_eq!(line.bytes(), format!("0 8192 {}", usize::MAX).as_bytes());
    }
}
