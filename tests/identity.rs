//! Type identity by layout: independently defined types with one layout
//! share an object, and every layout change is refused with a message that
//! names the first difference (`docs/FORMAT.md`, "Type identity").
//!
//! Each module below defines its own `Job`, as separately built programs
//! would: the Rust type paths differ, only the layouts count.

mod common;

use common::Names;
use shmkit::bytemuck::{Pod, Zeroable};
use shmkit::{Array, BoundedSemaphore, Error, Mutex, RwLock, Segment, Semaphore, ShmLayout, ShmSafe, ShmType, Value};

/// The layout of the issue: `Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8`.
mod here {
    use super::*;
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
    #[repr(C)]
    pub struct Job {
        pub id: u64,
        pub weight: f32,
        pub flags: u32,
    }
}

/// The same layout, defined again elsewhere.
mod same {
    use super::*;
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
    #[repr(C)]
    pub struct Job {
        pub id: u64,
        pub weight: f32,
        pub flags: u32,
    }
}

/// `weight` is a u32: the same size, another type.
mod retyped {
    use super::*;
    #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
    #[repr(C)]
    pub struct Job {
        pub id: u64,
        pub weight: u32,
        pub flags: u32,
    }
}

/// `weight` and `flags` swapped.
mod swapped {
    use super::*;
    #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
    #[repr(C)]
    pub struct Job {
        pub id: u64,
        pub flags: u32,
        pub weight: f32,
    }
}

/// One field more.
mod extended {
    use super::*;
    #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
    #[repr(C)]
    pub struct Job {
        pub id: u64,
        pub weight: f32,
        pub flags: u32,
        pub priority: u64,
    }
}

/// The same fields, padded to an alignment of 16.
mod realigned {
    use super::*;
    #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
    #[repr(C, align(16))]
    pub struct Job {
        pub id: u64,
        pub weight: f32,
        pub flags: u32,
    }
}

/// Explicit padding of two sizes.
mod padded {
    use super::*;
    #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
    #[repr(C)]
    pub struct Narrow {
        pub tag: u32,
        pub _pad: [u8; 4],
        pub value: u64,
    }
    #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
    #[repr(C)]
    #[shm(name = "Narrow")]
    pub struct Wide {
        pub tag: u32,
        pub _pad: [u8; 12],
        pub value: u64,
    }
}

/// The layout of `here::Job` under another explicit name.
mod renamed {
    use super::*;
    #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
    #[repr(C)]
    #[shm(name = "Task")]
    pub struct Job {
        pub id: u64,
        pub weight: f32,
        pub flags: u32,
    }
}

fn job(id: u64) -> here::Job {
    here::Job { id, weight: id as f32 * 0.5, flags: 0xf00 | id as u32 }
}

/// The message of the error `r` holds, which must be a `WrongType`.
fn wrong_type<T>(r: Result<T, Error>) -> String {
    match r {
        Err(e @ Error::WrongType { .. }) => e.to_string(),
        Err(e) => panic!("expected WrongType, got {e:?}"),
        Ok(_) => panic!("expected WrongType, the open succeeded"),
    }
}

#[test]
fn the_documented_encoding_of_job() {
    assert_eq!(here::Job::type_desc().encode(), "Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8");
    assert_eq!(here::Job::type_desc().fingerprint(), 0xe552_0faa_4ac6_44fa);
    assert_eq!(same::Job::type_desc(), here::Job::type_desc());
    assert_eq!(renamed::Job::type_desc().encode(), "Task{id:u64@0,weight:f32@8,flags:u32@12}#16/8");
}

#[test]
fn the_same_layout_defined_twice_is_one_type() {
    let names = Names::new("same-layout", 4);
    let v = Value::create(names.get(0), job(1)).unwrap();
    let w = Value::<same::Job>::open(names.get(0)).unwrap();
    assert_eq!(w.load(), same::Job { id: 1, weight: 0.5, flags: 0xf01 });
    w.store(same::Job { id: 2, weight: 1.5, flags: 7 });
    assert_eq!(v.load(), here::Job { id: 2, weight: 1.5, flags: 7 });

    let items = [job(1), job(2), job(3)];
    let _a = Array::create_from(names.get(1), &items).unwrap();
    let b = Array::<same::Job>::open(names.get(1)).unwrap();
    assert_eq!(b.get(2).unwrap().flags, 0xf03);

    let _m = Mutex::create(names.get(2), job(4)).unwrap();
    assert_eq!(Mutex::<same::Job>::open(names.get(2)).unwrap().lock().unwrap().id, 4);
    let _r = RwLock::create(names.get(3), job(5)).unwrap();
    assert_eq!(RwLock::<same::Job>::open(names.get(3)).unwrap().read().unwrap().id, 5);
}

#[test]
fn a_field_of_another_type_of_the_same_size_is_named() {
    let names = Names::new("retyped", 1);
    let n = names.get(0);
    let _v = Value::create(n, job(1)).unwrap();
    assert_eq!(
        wrong_type(Value::<retyped::Job>::open(n)),
        format!("segment '{n}' holds Value<Job>; field 'weight' is f32 at offset 8 there, u32 at offset 8 here")
    );
}

#[test]
fn swapped_fields_are_named() {
    let names = Names::new("swapped", 1);
    let n = names.get(0);
    let _v = Value::create(n, job(1)).unwrap();
    assert_eq!(
        wrong_type(Value::<swapped::Job>::open(n)),
        format!("segment '{n}' holds Value<Job>; field 'flags' is u32 at offset 12 there, u32 at offset 8 here")
    );
}

#[test]
fn an_added_field_is_named_either_way() {
    let names = Names::new("extended", 2);
    let (a, b) = (names.get(0), names.get(1));
    let _v = Value::create(a, job(1)).unwrap();
    assert_eq!(
        wrong_type(Value::<extended::Job>::open(a)),
        format!("segment '{a}' holds Value<Job>; field 'priority' is missing there (u64 at offset 16 here)")
    );
    let _w = Value::create(b, extended::Job { id: 1, weight: 1.0, flags: 2, priority: 3 }).unwrap();
    assert_eq!(
        wrong_type(Value::<here::Job>::open(b)),
        format!("segment '{b}' holds Value<Job>; field 'priority' is missing here (u64 at offset 16 there)")
    );
}

#[test]
fn different_padding_is_named() {
    let names = Names::new("padding", 2);
    let (a, b) = (names.get(0), names.get(1));
    let _v = Array::<here::Job>::create(a, 4).unwrap();
    assert_eq!(
        wrong_type(Array::<realigned::Job>::open(a)),
        format!("segment '{a}' holds Array<Job>[4]; Job is 16 bytes aligned to 8 there, 16 bytes aligned to 16 here")
    );
    let _w = Mutex::create(b, padded::Narrow { tag: 1, _pad: [0; 4], value: 2 }).unwrap();
    assert_eq!(
        wrong_type(Mutex::<padded::Wide>::open(b)),
        format!(
            "segment '{b}' holds Mutex<Narrow>; field '_pad' is [u8; 4] at offset 4 there, [u8; 12] at offset 4 here"
        )
    );
}

#[test]
fn another_explicit_name_is_another_type() {
    let names = Names::new("renamed", 1);
    let n = names.get(0);
    let _v = Value::create(n, job(1)).unwrap();
    assert_eq!(wrong_type(Value::<renamed::Job>::open(n)), format!("segment '{n}' holds Value<Job>, not Value<Task>"));
}

#[test]
fn a_capacity_mismatch_names_the_capacity_asked_for() {
    let names = Names::new("capacity", 1);
    let n = names.get(0);
    let _a = Array::<here::Job>::create(n, 4).unwrap();
    assert_eq!(
        wrong_type(Array::<same::Job>::open_or_create(n, 8)),
        format!("segment '{n}' holds Array<Job>[4], not Array<Job>[8]")
    );
    // An open that names no capacity is not told one.
    assert_eq!(wrong_type(Array::<u32>::open(n)), format!("segment '{n}' holds Array<Job>[4], not Array<u32>"));
}

#[test]
fn internal_types_never_show() {
    let names = Names::new("internal", 2);
    let (a, b) = (names.get(0), names.get(1));
    let _s = Semaphore::create(a, 1).unwrap();
    let e = BoundedSemaphore::open(a).unwrap_err();
    assert_eq!(e.to_string(), format!("segment '{a}' holds Semaphore, not BoundedSemaphore"));
    let _b = BoundedSemaphore::create(b, 1).unwrap();
    let e = Semaphore::open(b).unwrap_err();
    assert_eq!(e.to_string(), format!("segment '{b}' holds BoundedSemaphore, not Semaphore"));
    assert!(!format!("{e:?}").contains("shmkit::"), "{e:?}");
}

/// A user's own segment layout with embedded cells, described by the derive.
mod cells {
    use super::*;
    #[derive(ShmType)]
    #[repr(C)]
    pub struct Board {
        pub jobs: shmkit::MutexCell<[here::Job; 2]>,
        pub hits: std::sync::atomic::AtomicU64,
    }
    // SAFETY: repr(C), and every field is ShmSafe.
    unsafe impl ShmSafe for Board {}

    #[derive(ShmType)]
    #[repr(C)]
    #[shm(name = "Board")]
    pub struct OtherBoard {
        pub jobs: shmkit::MutexCell<[retyped::Job; 2]>,
        pub hits: std::sync::atomic::AtomicU64,
    }
    // SAFETY: as above.
    unsafe impl ShmSafe for OtherBoard {}
}

#[test]
fn segments_of_cells_compare_the_data_inside() {
    let names = Names::new("cells", 1);
    let n = names.get(0);
    let board = cells::Board { jobs: shmkit::MutexCell::new([job(1), job(2)]), hits: Default::default() };
    let seg = Segment::create(n, board).unwrap();
    assert_eq!(
        cells::Board::type_desc().encode(),
        "Board{jobs:MutexCell{data:[Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8; 2]@8}#40/8@0,hits:AtomicU64@40}#48/8"
    );
    assert_eq!(seg.jobs.lock(&seg).unwrap()[1].id, 2);
    assert_eq!(
        wrong_type(Segment::<cells::OtherBoard>::open(n)),
        format!(
            "segment '{n}' holds Segment<Board>; field 'jobs.data[].weight' is f32 at offset 8 there, u32 at offset \
             8 here"
        )
    );
}

#[test]
fn a_corrupted_description_is_corrupt_not_a_panic() {
    use std::os::unix::fs::FileExt;
    let names = Names::new("bad-desc", 1);
    let n = names.get(0);
    let _v = Value::create(n, job(1)).unwrap();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(names.path(0)).unwrap();
    let mut head = [0u8; 256];
    file.read_exact_at(&mut head, 0).unwrap();
    let desc_at = u64::from_ne_bytes(head[112..120].try_into().unwrap());
    let desc_len = u32::from_ne_bytes(head[100..104].try_into().unwrap()) as usize;
    let mut desc = vec![0u8; desc_len];
    file.read_exact_at(&mut desc, desc_at).unwrap();
    assert_eq!(desc, b"Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8");
    for (at, byte) in [(0, b'X'), (3, b'}'), (desc_len - 1, b'9'), (10, 0xff)] {
        let mut bad = desc.clone();
        bad[at] = byte;
        file.write_all_at(&bad, desc_at).unwrap();
        match Value::<here::Job>::open(n) {
            Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("type description"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(shmkit::inspect::info(n), Err(Error::Corrupt { .. })));
    }
    file.write_all_at(&desc, desc_at).unwrap();
    assert_eq!(Value::<here::Job>::open(n).unwrap().load(), job(1));
}

#[test]
fn queues_name_the_field_in_both_modes() {
    let names = Names::new("queue-type", 2);
    let (a, b) = (names.get(0), names.get(1));
    let q = shmkit::Queue::<here::Job>::create(a, 64).unwrap();
    assert_eq!(
        wrong_type(shmkit::Queue::<retyped::Job>::open(a)),
        format!("segment '{a}' holds Queue<Job>[64]; field 'weight' is f32 at offset 8 there, u32 at offset 8 here")
    );
    let same = shmkit::Queue::<same::Job>::open(a).unwrap();
    q.sender().unwrap().send(job(9)).unwrap();
    assert_eq!(same.receiver().unwrap().recv().unwrap(), same::Job { id: 9, weight: 4.5, flags: 0xf09 });
    // A queue is taken as it is, whatever capacity open_or_create names.
    assert_eq!(shmkit::Queue::<same::Job>::open_or_create(a, 8).unwrap().capacity(), 64);

    let _s = shmkit::Queue::<here::Job>::create_spsc(b, 16).unwrap();
    assert_eq!(
        wrong_type(shmkit::Queue::<swapped::Job>::open(b)),
        format!(
            "segment '{b}' holds SpscQueue<Job>[16]; field 'flags' is u32 at offset 12 there, u32 at offset 8 here"
        )
    );
}
