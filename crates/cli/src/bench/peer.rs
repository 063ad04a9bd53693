//! The peer process: started by the measuring side, opens its side of the
//! channel, serves until told to stop; and the measuring side's handle on it.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Child;
use std::time::{Duration, Instant};

use super::{Ctx, EXIT_TIMEOUT, Pattern, READY_TIMEOUT, STACK, link, registry};
use crate::sys;

/// A running peer; killed and reaped when dropped.
pub(crate) struct Peer {
    child: Option<Child>,
    out: Vec<u8>,
}

impl Peer {
    /// Wraps a started peer process.
    pub(crate) fn new(child: Child) -> Peer {
        Peer { child: Some(child), out: Vec::new() }
    }

    /// Reads the peer's stdout for at most `limit`; `Ok(false)` at EOF.
    fn pump(&mut self, limit: Duration) -> io::Result<bool> {
        let Some(out) = self.child.as_mut().and_then(|c| c.stdout.as_mut()) else { return Ok(false) };
        if !sys::poll_one(out.as_fd(), libc::POLLIN, limit)? {
            return Ok(true);
        }
        let mut buf = [0u8; 1024];
        match out.read(&mut buf) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.out.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn said(&self, what: &str) -> Option<String> {
        String::from_utf8_lossy(&self.out).lines().find_map(|l| l.strip_prefix(what).map(|r| r.trim().to_owned()))
    }

    pub(crate) fn wait_ready(&mut self) -> io::Result<()> {
        let start = Instant::now();
        loop {
            if self.said("ready").is_some() {
                return Ok(());
            }
            if let Some(e) = self.said("error:") {
                return Err(io::Error::other(format!("peer: {e}")));
            }
            if sys::interrupted() {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the peer did not get ready in time"));
            }
            if !self.pump(link::SLICE)? {
                return Err(io::Error::other(format!("the peer exited before it was ready{}", self.stderr_tail())));
            }
        }
    }

    /// The last line of the peer's stderr, once it has exited.
    fn stderr_tail(&mut self) -> String {
        let Some(child) = self.child.as_mut() else { return String::new() };
        if !matches!(child.try_wait(), Ok(Some(_))) {
            return String::new();
        }
        let mut text = String::new();
        if let Some(e) = child.stderr.as_mut() {
            let _ = e.read_to_string(&mut text);
        }
        text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim())).unwrap_or_default()
    }

    /// Whether the peer has exited with a failure (its status stays for
    /// [`Peer::finish`]).
    pub(crate) fn failed(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(Some(status))) if !status.success())
    }

    /// Adds what the peer said about a failure to `e`.
    pub(crate) fn explain(&mut self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::Interrupted {
            return e;
        }
        let _ = self.pump(Duration::from_millis(100));
        match self.said("error:") {
            Some(peer) => io::Error::new(e.kind(), format!("{e}; peer: {peer}")),
            None => io::Error::new(e.kind(), format!("{e}{}", self.stderr_tail())),
        }
    }

    /// Waits for the peer to exit (killing it on failure or after
    /// [`EXIT_TIMEOUT`]); an error if it failed after a good run.
    pub(crate) fn finish(&mut self, ok: bool) -> io::Result<()> {
        link::watch_child(None);
        let Some(mut child) = self.child.take() else { return Ok(()) };
        if !ok {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(());
        }
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                self.child = Some(child);
                let said = self.said("error:").map(|e| format!(": {e}")).unwrap_or_else(|| self.stderr_tail());
                return Err(io::Error::other(format!("the peer failed ({status}){said}")));
            }
            if start.elapsed() > EXIT_TIMEOUT || sys::interrupted() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the peer did not exit"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        link::watch_child(None);
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Tells the parent that the peer's side is open.
pub(crate) fn peer_ready() -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()
}

/// Entry point of a peer process: `args` are what follows the
/// [`PeerCommand`](super::PeerCommand) prefix. Returns the exit code (0: served to the end).
pub fn peer_main(args: &[String]) -> i32 {
    match std::thread::Builder::new().stack_size(STACK).spawn({
        let args = args.to_vec();
        move || peer(&args)
    }) {
        Ok(h) => match h.join() {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                let _ = writeln!(io::stdout().lock(), "error: {e}");
                1
            }
            Err(_) => 1,
        },
        Err(e) => {
            let _ = writeln!(io::stdout().lock(), "error: cannot start: {e}");
            1
        }
    }
}

fn peer(args: &[String]) -> io::Result<()> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("peer arguments: {what}"));
    let [key, pattern, size, cpu, parent, nfds, rest @ ..] = args else { return Err(bad("too few")) };
    let pattern = Pattern::parse(pattern).ok_or_else(|| bad("pattern"))?;
    let size: usize = size.parse().map_err(|_| bad("size"))?;
    let parent: u32 = parent.parse().map_err(|_| bad("parent pid"))?;
    let nfds: usize = nfds.parse().map_err(|_| bad("descriptor count"))?;
    link::watch_parent(parent);
    if std::os::unix::process::parent_id() != parent {
        return Err(bad("the parent has already gone"));
    }
    if cpu != "-" {
        let cpu: usize = cpu.parse().map_err(|_| bad("cpu"))?;
        sys::pin_to_cpu(cpu)?;
    }
    let fds = (0..nfds.min(64)).map(sys::passed_fd).collect::<io::Result<Vec<OwnedFd>>>()?;
    let entry = registry().into_iter().find(|e| &e.key() == key).ok_or_else(|| bad("unknown transport"))?;
    let ctx = Ctx { size, wait: entry.wait, pattern, prefix: String::new() };
    (entry.serve)(&ctx, rest, fds)
}
