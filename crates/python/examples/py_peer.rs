//! The Rust side of the Python suite's interop tests: a process that shares
//! objects with a Python process by name (`crates/python/tests/test_interop.py`
//! runs it).
//!
//! ```text
//! py_peer value-add NAME N      Value<f64> NAME: add 1.0, N times, under its lock
//! py_peer value-create NAME X   create Value<f64> NAME = X, wait for a line on stdin
//! py_peer array-double NAME     Array<i32> NAME: double every element
//! py_peer job-read NAME         Value<Job> NAME: print its fields
//! py_peer job-create NAME       create Value<Job>{7, 0.5, 3}, wait for a line on stdin
//! py_peer pipe-echo NAME N      Pipe NAME, end 1 (Python's first Connection is end 0): receive N messages,
//!                               send each back reversed
//! py_peer bytes-send NAME N     ByteQueue NAME: send N messages "msg-I"
//! py_peer jobs-sum NAME N       Queue<Job> NAME: receive N jobs, print the sums of id and flags
//! py_peer jobs-send NAME N      Queue<Job> NAME: send Job{i, i/2, 2i} for i in 0..N
//! py_peer jobs-publish NAME N   Broadcast<Job> NAME: publish Job{i, i/2, 2i} for i in 0..N
//! py_peer sample-read NAME      Value<Sample> NAME (a struct holding an array and a struct): print it
//! py_peer mq-echo NAME N        MessageQueue NAME: receive N messages, send each back upper-cased
//! py_peer chars-upper NAME      Array<u32> NAME (Python's 'u'): upper-case each code point, print the text
//! py_peer flags-not NAME        Array<u8> NAME (Python's c_bool): negate each flag, print them
//! py_peer flagged-read NAME     Value<Flagged> NAME (c_bool, c_bool[3], c_wchar and c_int fields): print it
//! ```

use std::io::BufRead;
use std::process::ExitCode;

use bytemuck::{Pod, Zeroable};
use shmkit::{Array, Broadcast, ByteQueue, MessageQueue, Pipe, Queue, ShmType, Value};

/// FORMAT.md's example layout; Python describes it as a ctypes Structure.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
#[repr(C)]
struct Job {
    id: u64,
    weight: f32,
    flags: u32,
}

/// A struct in a struct, and an array: the derive's nested encoding.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
#[repr(C)]
struct Point2 {
    x: f32,
    y: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
#[repr(C)]
struct Sample {
    id: u32,
    tags: [u16; 4],
    pos: Point2,
}

/// A Python ctypes Structure with `c_bool`, `c_wchar` and `c_int` fields:
/// Rust has no shareable `bool` or `char`, so `u8` (0 or 1) and `u32` (the
/// code point). `Pod` wants no padding: the flags fill the first word.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
#[repr(C)]
struct Flagged {
    ok: u8,
    more: [u8; 3],
    ch: u32,
    n: i32,
}

fn wait_for_stdin() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or("missing argument");
    let name = arg(1)?;
    match arg(0)? {
        "value-add" => {
            let v = Value::<f64>::open(name)?;
            for _ in 0..arg(2)?.parse::<u32>()? {
                *v.lock().unwrap_or_else(|died| died.into_inner()) += 1.0;
            }
        }
        "value-create" => {
            let _v = Value::create(name, arg(2)?.parse::<f64>()?)?;
            println!("ready");
            wait_for_stdin();
        }
        "array-double" => {
            let a = Array::<i32>::open(name)?;
            let mut g = a.lock().unwrap_or_else(|died| died.into_inner());
            for x in g.iter_mut() {
                *x *= 2;
            }
        }
        "job-read" => {
            let j = Value::<Job>::open(name)?.load();
            println!("{} {} {}", j.id, j.weight, j.flags);
        }
        "sample-read" => {
            let s = Value::<Sample>::open(name)?.load();
            println!("{} {:?} {} {}", s.id, s.tags, s.pos.x, s.pos.y);
        }
        "job-create" => {
            let _v = Value::create(name, Job { id: 7, weight: 0.5, flags: 3 })?;
            println!("ready");
            wait_for_stdin();
        }
        "pipe-echo" => {
            // End 1 pairs with the Python creator's first Connection, in
            // whichever order the two first use their ends.
            let mut c = Pipe::open(name)?.connect_end(1)?;
            for _ in 0..arg(2)?.parse::<u32>()? {
                let mut m = c.recv()?;
                m.reverse();
                c.send(&m)?;
            }
        }
        "bytes-send" => {
            let mut tx = ByteQueue::open(name)?.sender()?;
            for i in 0..arg(2)?.parse::<u32>()? {
                tx.send(format!("msg-{i}").as_bytes())?;
            }
        }
        "jobs-sum" => {
            let rx = Queue::<Job>::open(name)?.receiver()?;
            let (mut ids, mut flags) = (0u64, 0u64);
            for _ in 0..arg(2)?.parse::<u32>()? {
                let j = rx.recv()?;
                ids += j.id;
                flags += u64::from(j.flags);
            }
            println!("{ids} {flags}");
        }
        "jobs-send" => {
            let tx = Queue::<Job>::open(name)?.sender()?;
            for i in 0..arg(2)?.parse::<u32>()? {
                tx.send(Job { id: u64::from(i), weight: i as f32 / 2.0, flags: 2 * i })
                    .map_err(|_| "receivers gone")?;
            }
        }
        "jobs-publish" => {
            let mut p = Broadcast::<Job>::open(name)?.publisher()?;
            for i in 0..arg(2)?.parse::<u32>()? {
                p.send(Job { id: u64::from(i), weight: i as f32 / 2.0, flags: 2 * i })?;
            }
        }
        "mq-echo" => {
            let q = MessageQueue::open(name)?;
            let (rx, tx) = (q.receiver()?, q.sender()?);
            for _ in 0..arg(2)?.parse::<u32>()? {
                let m = rx.recv()?;
                tx.send(&m.to_ascii_uppercase())?;
            }
        }
        "chars-upper" => {
            let a = Array::<u32>::open(name)?;
            let mut g = a.lock().unwrap_or_else(|died| died.into_inner());
            let mut text = String::new();
            for c in g.iter_mut() {
                let ch = char::from_u32(*c).ok_or("not a code point")?;
                let up = ch.to_uppercase().next().unwrap_or(ch);
                *c = u32::from(up);
                text.push(up);
            }
            println!("{text}");
        }
        "flags-not" => {
            let a = Array::<u8>::open(name)?;
            let mut g = a.lock().unwrap_or_else(|died| died.into_inner());
            for f in g.iter_mut() {
                *f = u8::from(*f == 0);
            }
            println!("{:?}", &g[..]);
        }
        "flagged-read" => {
            let f = Value::<Flagged>::open(name)?.load();
            let ch = char::from_u32(f.ch).ok_or("not a code point")?;
            println!("{} {:?} {ch} {}", f.ok, f.more, f.n);
        }
        other => return Err(format!("unknown role {other}").into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("py_peer: {e}");
            ExitCode::FAILURE
        }
    }
}
