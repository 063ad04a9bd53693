//! DynRwLock: a reader-writer lock of a type described at run time is the
//! segment of a Rust `RwLock<T>` of the same layout, both ways; a changed
//! description is refused naming the field; a described writer killed
//! holding the lock gives `OwnerDied` as a typed one does.

mod common;
#[path = "common/job.rs"]
mod job;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use job::Job;
use shmkit::bytemuck::{Pod, Zeroable, bytes_of, pod_read_unaligned};
use shmkit::dynamic::{DynMutex, DynRwLock};
use shmkit::{Error, LockError, RwLock, Shape, ShmLayout, ShmType, TryLockError, TypeDesc};

/// An alignment past the lock words', so the data is padded after them.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
#[repr(C, align(128))]
struct Wide {
    a: [u64; 4],
    tail: [u8; 96],
}

const JOB: Job = Job { id: 7, weight: 0.5, flags: 3 };

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        // Takes the write lock through a description, writes half a job,
        // then hangs until killed.
        "hold_write" => {
            let l = DynRwLock::open(&args[0], &Job::type_desc()).expect("open described rwlock");
            let mut g = l.write().unwrap_or_else(LockError::into_inner);
            g[..8].copy_from_slice(&99u64.to_ne_bytes());
            say("LOCKED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        other => panic!("unknown role {other}"),
    }
}

/// The bytes of the object's state as its segment holds them.
fn state_bytes(name: &str) -> Vec<u8> {
    let info = shmkit::inspect::info(name).expect("inspect");
    let file = std::fs::read(shmkit::inspect::file_path(name).unwrap()).expect("read the segment file");
    let (offset, size) = (info.data.0 as usize, info.data.1 as usize);
    file[offset..offset + size].to_vec()
}

/// What `shmkit info` says of the object, less what names its creator.
fn facts(name: &str) -> impl PartialEq + std::fmt::Debug {
    let i = shmkit::inspect::info(name).expect("inspect");
    (i.kind, i.holds, i.type_description, i.type_hash, i.elem_size, i.elem_align, i.capacity, i.size, i.data)
}

#[test]
fn a_described_rwlock_is_the_segment_of_a_typed_one() {
    let names = Names::new("dynrw-same", 4);
    let (typed_job, dyn_job) = (RwLock::create(&names[0], JOB).unwrap(), {
        DynRwLock::create(&names[1], &Job::type_desc(), bytes_of(&JOB)).unwrap()
    });
    assert_eq!(facts(&names[0]), facts(&names[1]));
    assert_eq!(state_bytes(&names[0]), state_bytes(&names[1]), "a fresh state, byte for byte");
    let wide = Wide { a: [1, 2, 3, 4], tail: [5; 96] };
    let (typed_wide, dyn_wide) = (RwLock::create(&names[2], wide).unwrap(), {
        DynRwLock::create(&names[3], &Wide::type_desc(), bytes_of(&wide)).unwrap()
    });
    assert_eq!(facts(&names[2]), facts(&names[3]));
    assert_eq!(state_bytes(&names[2]), state_bytes(&names[3]), "padded data, byte for byte");
    assert_eq!(dyn_wide.data_len(), 128);
    drop((typed_job, dyn_job, typed_wide, dyn_wide));
}

#[test]
fn typed_and_described_share_one_rwlock_both_ways() {
    let names = Names::new("dynrw-share", 2);
    let names_owned = [names[0].to_owned(), names[1].to_owned()];
    watchdog(Duration::from_secs(60), "typed_and_described_share", move || {
        let [a, b] = &names_owned;
        // A typed creator, a described opener.
        let typed = RwLock::create(a, JOB).unwrap();
        let described = DynRwLock::open(a, &Job::type_desc()).unwrap();
        assert_eq!(pod_read_unaligned::<Job>(&described.read().unwrap()), JOB);
        described.write().unwrap().copy_from_slice(bytes_of(&Job { id: 8, ..JOB }));
        assert_eq!(typed.read().unwrap().id, 8);

        // They exclude each other: readers share, a writer is alone.
        let r = typed.read().unwrap();
        assert!(described.try_read().is_ok(), "readers share");
        assert!(matches!(described.try_write(), Err(TryLockError::WouldBlock)));
        assert!(matches!(described.write_timeout(Duration::from_millis(20)), Err(TryLockError::TimedOut)));
        drop(r);
        let w = described.write_deadline(Instant::now() + Duration::from_secs(10)).unwrap();
        assert!(typed.is_write_locked() && described.is_write_locked());
        assert!(matches!(typed.try_read(), Err(TryLockError::WouldBlock)));
        assert!(matches!(described.read_timeout(Duration::from_millis(20)), Err(TryLockError::TimedOut)));
        drop(w);
        assert!(!typed.is_write_locked());

        // A described creator, a typed opener.
        let described = DynRwLock::create(b, &Job::type_desc(), bytes_of(&JOB)).unwrap();
        let typed = RwLock::<Job>::open(b).unwrap();
        assert_eq!(*typed.read().unwrap(), JOB);
        typed.write().unwrap().flags = 11;
        let got: Job = pod_read_unaligned(&described.read_deadline(Instant::now()).unwrap());
        assert_eq!(got, Job { flags: 11, ..JOB });
        let again = DynRwLock::open_or_create_with(b, &Job::type_desc(), &[0; 16], &Default::default()).unwrap();
        assert_eq!(pod_read_unaligned::<Job>(&again.read().unwrap()).flags, 11, "opened, not created anew");
    });
}

#[test]
fn a_changed_description_or_another_kind_is_refused() {
    let names = Names::new("dynrw-refuse", 2);
    let _typed = RwLock::create(&names[0], JOB).unwrap();
    let mut changed = Job::type_desc();
    let Shape::Struct(fields) = &mut changed.shape else { panic!("Job is a struct") };
    fields[1].ty = u32::type_desc();
    let err = DynRwLock::open(&names[0], &changed).unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err}");
    assert!(err.to_string().contains("field 'weight'"), "{err}");
    assert!(matches!(DynMutex::open(&names[0], &Job::type_desc()), Err(Error::WrongKind { .. })));

    let _mutex = shmkit::Mutex::create(&names[1], JOB).unwrap();
    assert!(matches!(DynRwLock::open(&names[1], &Job::type_desc()), Err(Error::WrongKind { .. })));
    let short = DynRwLock::create(&names[1], &Job::type_desc(), &[0; 15]);
    assert!(matches!(short, Err(Error::InvalidArgument(_))), "{short:?}");
    let impossible = TypeDesc::primitive("odd", 3, 3);
    assert!(matches!(DynRwLock::open(&names[0], &impossible), Err(Error::InvalidArgument(_))));
}

#[test]
fn a_described_writer_killed_holding_gives_owner_died() {
    let names = Names::new("dynrw-died", 1);
    let name = names[0].to_owned();
    watchdog(Duration::from_secs(60), "described_writer_killed", move || {
        let typed = RwLock::create(&name, JOB).unwrap();
        let described = DynRwLock::open(&name, &Job::type_desc()).unwrap();
        let mut holder = Child::spawn_piped("hold_write", &[&name]);
        holder.expect_line("LOCKED");
        assert!(matches!(described.try_read(), Err(TryLockError::WouldBlock)));
        holder.kill();
        // A reader is told, and cannot repair: readers are told until a
        // writer has been in.
        match described.read_timeout(Duration::from_secs(30)) {
            Err(TryLockError::OwnerDied(g)) => assert_eq!(pod_read_unaligned::<Job>(&g).id, 99, "the half update"),
            other => panic!("expected OwnerDied, got {:?}", other.map(|g| g.len())),
        }
        assert!(matches!(typed.try_read(), Err(TryLockError::OwnerDied(_))));
        let mut w = match described.write() {
            Err(LockError::OwnerDied(w)) => w,
            Ok(_) => panic!("the first writer after the death must report OwnerDied"),
        };
        w.copy_from_slice(bytes_of(&JOB));
        drop(w);
        assert_eq!(*typed.read().expect("clean after the repair"), JOB);
    });
}
