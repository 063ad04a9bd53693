//! The `shmkit` command-line tool.
fn main() {}
