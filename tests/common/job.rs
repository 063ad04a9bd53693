//! The struct the tests of described types share with C and Python (a test
//! file includes it with `#[path = "common/job.rs"] mod job;`; it needs the
//! `derive` feature, which not every user of `common` has).

/// What a C program describes as `struct Job { uint64_t id; float weight;
/// uint32_t flags; }`.
#[derive(Clone, Copy, Debug, PartialEq, shmkit::bytemuck::Pod, shmkit::bytemuck::Zeroable, shmkit::ShmType)]
#[repr(C)]
pub struct Job {
    pub id: u64,
    pub weight: f32,
    pub flags: u32,
}
