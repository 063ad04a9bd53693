//! Opaque handles: a C pointer `*mut shmkit_x` is a box of
//! [`Tagged<Inner>`] whose tag says which kind it is and whether it is
//! live, and whose address is in the set of live handles, so that a double
//! free is an error (`SHMKIT_INVALID_HANDLE`) and not a crash.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Fail, Outcome, call, need, shmkit_status};

/// The C-side marker type of a handle and the Rust object behind it.
pub(crate) trait Object: Sized + 'static {
    /// What the handle holds.
    type Inner: 'static;
    /// The tag of a live handle of this kind.
    const MAGIC: u64;
    /// The handle's C type name, for messages.
    const WHAT: &'static str;
}

/// Writes the [`Object`] impl of a C marker type.
macro_rules! object {
    ($($marker:ident => $inner:ty, $n:literal;)*) => {$(
        impl crate::handle::Object for $marker {
            type Inner = $inner;
            const MAGIC: u64 = 0x5348_4d4b_4954_0000 | $n;
            const WHAT: &'static str = stringify!($marker);
        }
    )*};
}
pub(crate) use object;

/// What a handle points to.
#[repr(C)]
struct Tagged<T> {
    /// `MAGIC` while live, 0 once freed.
    magic: AtomicU64,
    inner: T,
}

/// Addresses of the live handles.
static LIVE: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<usize>> {
    // The set stays consistent even if a holder panicked.
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Boxes `inner` as a live handle and writes its address to `out`.
///
/// # Safety
/// `out` is NULL or valid for a write of a pointer.
pub(crate) unsafe fn export<O: Object>(out: *mut *mut O, inner: O::Inner) -> Outcome {
    need(out, "the out-pointer of the handle")?;
    let ptr = Box::into_raw(Box::new(Tagged { magic: AtomicU64::new(O::MAGIC), inner }));
    live().insert(ptr as usize);
    // SAFETY: non-NULL and valid for a write (the caller's promise).
    unsafe { out.write(ptr.cast::<O>()) };
    Ok(shmkit_status::SHMKIT_OK)
}

/// The object behind a handle the caller passed.
///
/// # Safety
/// `p` is NULL or a handle returned by this library and not freed (a freed
/// or foreign one is detected only as far as its tag can tell).
#[inline]
pub(crate) unsafe fn get<'a, O: Object>(p: *const O) -> Result<&'a O::Inner, Fail> {
    if p.is_null() {
        return Err(Fail::null(O::WHAT));
    }
    let tagged = p.cast::<Tagged<O::Inner>>();
    if !tagged.is_aligned() {
        return Err(invalid::<O>());
    }
    // SAFETY: a handle points to a live Tagged<O::Inner> (the caller's
    // promise); its first field is the tag (repr(C)), an atomic read even
    // if another handle kind sits there.
    let magic = unsafe { &*tagged.cast::<AtomicU64>() }.load(Ordering::Relaxed);
    if magic != O::MAGIC {
        return Err(invalid::<O>());
    }
    // SAFETY: the tag says this is a live handle of kind O.
    Ok(unsafe { &(*tagged).inner })
}

#[cold]
fn invalid<O: Object>() -> Fail {
    Fail::new(
        shmkit_status::SHMKIT_INVALID_HANDLE,
        format!("not a live {} handle (freed already, or of another kind)", O::WHAT),
    )
}

/// Frees a handle: NULL is fine, a handle that is not live (freed already)
/// is `SHMKIT_INVALID_HANDLE`.
///
/// # Safety
/// `p` is NULL or a handle returned by this library; no other thread uses
/// it during or after the call.
pub(crate) unsafe fn free<O: Object>(p: *mut O) -> shmkit_status {
    call(|| {
        if p.is_null() {
            return Ok(shmkit_status::SHMKIT_OK);
        }
        {
            let mut set = live();
            if !set.contains(&(p as usize)) {
                return Err(invalid::<O>());
            }
            // SAFETY: the address is live, so it is a handle we boxed; check
            // its kind before taking it back.
            unsafe { get::<O>(p)? };
            set.remove(&(p as usize));
        }
        let tagged = p.cast::<Tagged<O::Inner>>();
        // SAFETY: a live handle of kind O, boxed by `export`, removed from
        // the live set above so that no other free takes it again.
        let boxed = unsafe { Box::from_raw(tagged) };
        boxed.magic.store(0, Ordering::Relaxed);
        drop(boxed);
        Ok(shmkit_status::SHMKIT_OK)
    })
}
