//! What the loom models share: an always-alive liveness registry and one
//! way to run a model.
//!
//! Run the models as CI does:
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib loom`.

use crate::segment::registry::{Liveness, Token};

/// A model thread's handle: the holder of the registry slot in the field,
/// generation 1; every holder it asks about is alive (the models check the
/// protocols, not death).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Alive(pub u32);

impl Liveness for Alive {
    fn token(&self) -> Token {
        Token::from_slot_generation(self.0, 1)
    }

    fn is_alive(&self, _token: Token) -> bool {
        true
    }
}

/// Explores every execution of `f` with at most `preemptions` preemptions
/// (2 or 3 keeps a model with three threads within minutes).
pub(crate) fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(f);
}
