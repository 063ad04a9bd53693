//! [`Handle<S>`]: the one process-local handle of every named object, over
//! a [`SegmentState`] that says what the object keeps in its segment.
//!
//! An object (a [`Value`](crate::Value), a [`Barrier`](crate::Barrier), …) is
//! a thin wrapper around a `Handle<S>`: the handle creates, opens and checks
//! the segment, owns the mapping, names the state, and carries the wait
//! strategy; the object adds its own operations on `&S`. The public
//! constructor set of every object is written once, by [`handle_api!`].
//!
//! Opening checks, in order: the file, header and stored type description
//! ([`RawSegment`]), the kind (one of [`SegmentState::KINDS`]), the
//! parameters the header implies ([`SegmentState::params_of`]), the element
//! type (its layout fingerprint; a mismatch names the first differing
//! field), the state's size and alignment, what the state itself keeps
//! ([`SegmentState::check_opened`]), and for `open_or_create` what was asked
//! ([`SegmentState::check_existing`]).

use std::fmt;
use std::ptr::NonNull;

use crate::error::Error;
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::{OpenOptions, RawSegment, ShmSafe, Spec, open_or_create_with};
use crate::wait::WaitStrategy;

/// Size and alignment of an object's state in its segment: the `S` at the
/// start, then any tail the object reaches on its own (an Array's elements,
/// a queue's slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateLayout {
    /// Bytes of the whole state, `S` and tail.
    pub size: usize,
    /// Alignment of the state's start (a multiple of `align_of::<S>()`).
    pub align: usize,
}

impl StateLayout {
    /// Exactly one `S`.
    pub fn of<S>() -> StateLayout {
        StateLayout { size: std::mem::size_of::<S>(), align: std::mem::align_of::<S>() }
    }
}

/// What an object keeps in its segment, and how it is created, opened and
/// checked. `Self` is the `#[repr(C)]` state at the start of the segment's
/// data region; a state may have a tail after it (see [`StateLayout`]).
///
/// Being [`ShmSafe`], every bit pattern is a valid `Self`: a fresh, zeroed
/// region already holds one, which [`SegmentState::init`] then fills in.
pub(crate) trait SegmentState: ShmSafe + Sized {
    /// The kinds a segment of this state may be stored as: `open` accepts
    /// each, `create` stores [`SegmentState::kind`].
    const KINDS: &'static [ObjectKind];

    /// What `create` chooses and `open` learns: an Array's length, a
    /// queue's capacity and mode, a barrier's party count (`()` for most).
    /// `Default` is the value `open` starts from.
    type Params: Clone + Default + PartialEq + fmt::Debug + Send + Sync + 'static;

    /// What the creator writes into the fresh state beside the parameters:
    /// an initial value, items to copy.
    type Init<'a>;

    /// The kind a segment with `params` is stored as.
    fn kind(_params: &Self::Params) -> ObjectKind {
        Self::KINDS[0]
    }

    /// What two programs must agree on (element type, capacity), recorded in
    /// the header.
    fn fingerprint(params: &Self::Params) -> Fingerprint;

    /// The state's size and alignment for `params` in a segment of
    /// `registry_slots` liveness slots.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the parameters make it too large.
    fn layout(_params: &Self::Params, _registry_slots: u32) -> Result<StateLayout, Error> {
        Ok(StateLayout::of::<Self>())
    }

    /// Checks the arguments of a create before anything is made.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value out of range.
    fn check_init(_params: &Self::Params, _init: &Self::Init<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// Fills in a fresh state: `self` and `tail` (the rest of the
    /// [`StateLayout`]) are zeroed and seen by no other process yet.
    fn init(&mut self, tail: &mut [u8], params: &Self::Params, registry_slots: u32, init: Self::Init<'_>);

    /// The parameters of an existing segment, from its checked header (the
    /// header is trusted only as far as [`Header::validate`] went: range-check
    /// what you use).
    ///
    /// # Errors
    /// [`Error::Corrupt`] for impossible values.
    fn params_of(_name: &str, _header: &Header) -> Result<Self::Params, Error> {
        Ok(Self::Params::default())
    }

    /// The parameters to open with when the opener brings its own
    /// (`template`): an object whose element type is described at run time
    /// (`crate::dynamic`) learns it from the opener, not from the header,
    /// and the fingerprint check then compares the two. By default the
    /// template is ignored and the header's parameters are used.
    ///
    /// # Errors
    /// As [`SegmentState::params_of`].
    fn params_for_open(name: &str, header: &Header, _template: Option<&Self::Params>) -> Result<Self::Params, Error> {
        Self::params_of(name, header)
    }

    /// Checks an opened state, whose size and alignment are checked: what
    /// it keeps is untrusted (another process, or a corrupted file, wrote
    /// it). May complete `params` with what the state keeps.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for impossible values.
    fn check_opened(&self, _name: &str, _params: &mut Self::Params) -> Result<(), Error> {
        Ok(())
    }

    /// `open_or_create` found an existing object with `found` parameters
    /// where it would have created one with `asked`: whether that will do.
    /// The element type has been checked already (naming the first
    /// differing field); by default the kind and capacity of `asked` must
    /// match, and a mismatch names the capacity asked for.
    ///
    /// # Errors
    /// [`Error::WrongKind`], [`Error::WrongType`] or
    /// [`Error::InvalidArgument`] naming the difference.
    fn check_existing(name: &str, header: &Header, asked: &Self::Params, _found: &Self::Params) -> Result<(), Error> {
        header.expect(name, Self::kind(asked), &Self::fingerprint(asked))
    }

    /// What an open asks for, in a [`Error::WrongKind`] message.
    fn wanted() -> String {
        Self::fingerprint(&Self::Params::default()).describe_any_capacity(Self::KINDS[0])
    }
}

/// A named segment holding an `S`: created, opened and owned once for
/// every object, with the wait strategy of this handle.
///
/// The creating handle unlinks the name on drop unless [`Handle::persist`]
/// was called (see [`RawSegment`]).
pub(crate) struct Handle<S: SegmentState> {
    seg: RawSegment,
    state: NonNull<S>,
    params: S::Params,
    strategy: WaitStrategy,
}

// SAFETY: `state` points into the mapping that `seg` owns, which lives as
// long as the handle and is Send and Sync itself; `S: ShmSafe` is Sync and
// made for shared `&S` access from any thread of any process (every change
// through `&S` is atomic or under the state's own lock); `params` and
// `strategy` are Send and Sync and only changed through `&mut self`.
unsafe impl<S: SegmentState> Send for Handle<S> {}
// SAFETY: as above.
unsafe impl<S: SegmentState> Sync for Handle<S> {}

impl<S: SegmentState> Handle<S> {
    /// The layout for `params`, checked to hold an `S` at its start.
    fn layout(params: &S::Params, registry_slots: u32) -> Result<StateLayout, Error> {
        let lay = S::layout(params, registry_slots)?;
        let aligned = lay.align.is_power_of_two() && lay.align % std::mem::align_of::<S>() == 0;
        if lay.size < std::mem::size_of::<S>() || !aligned {
            return Err(Error::InvalidArgument(format!("a state layout of {lay:?} cannot hold its head")));
        }
        Ok(lay)
    }

    /// Creates `name` exclusively with `params`, its state filled in by
    /// [`SegmentState::init`] with `init`.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidArgument`] for bad arguments, or an OS error.
    pub fn create_with(name: &str, params: S::Params, init: S::Init<'_>, opts: &OpenOptions) -> Result<Self, Error> {
        S::check_init(&params, &init)?;
        let slots = opts.slots();
        let lay = Self::layout(&params, slots)?;
        let spec = Spec::new(S::kind(&params), S::fingerprint(&params), lay.size, lay.align);
        let seg = RawSegment::create(name, &spec, opts, |p| {
            // SAFETY: RawSegment::create hands us `lay.size` zeroed, writable
            // bytes aligned to `lay.align` (a multiple of S's alignment) that
            // no other process sees yet. `lay.size >= size_of::<S>()`
            // (checked in `layout`), so `S` and the tail after it are two
            // disjoint parts of that region; a zeroed `S` is a valid one
            // (`S: ShmSafe` accepts every bit pattern).
            let (state, tail) = unsafe {
                let head = std::mem::size_of::<S>();
                (&mut *p.cast::<S>(), std::slice::from_raw_parts_mut(p.add(head), lay.size - head))
            };
            state.init(tail, &params, slots, init);
        })?;
        Ok(Self::wrap(seg, params))
    }

    /// Opens `name`, which must hold an `S` (any of its kinds, any
    /// parameters).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`],
    /// [`Error::Corrupt`], and the other checks of a segment open.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, Error> {
        Self::open_checked(name, opts, None)
    }

    /// Opens `name` with the opener's own parameters as a template (see
    /// [`SegmentState::params_for_open`]): for objects whose element type is
    /// described at run time.
    ///
    /// # Errors
    /// As [`Handle::open_with`].
    pub fn open_template(name: &str, template: &S::Params, opts: &OpenOptions) -> Result<Self, Error> {
        Self::open_checked_from(name, opts, Some(template), None)
    }

    /// Opens `name`, or creates it with `params` and `init()`: safe when
    /// processes race. `init` runs for each create attempt; an existing
    /// object must pass [`SegmentState::check_existing`].
    ///
    /// # Errors
    /// As [`Handle::open_with`] and [`Handle::create_with`].
    pub fn open_or_create_with<'a>(
        name: &str,
        params: S::Params,
        mut init: impl FnMut() -> S::Init<'a>,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        open_or_create_with(
            name,
            || Self::create_with(name, params.clone(), init(), opts),
            || Self::open_checked(name, opts, Some(&params)),
        )
    }

    fn open_checked(name: &str, opts: &OpenOptions, asked: Option<&S::Params>) -> Result<Self, Error> {
        Self::open_checked_from(name, opts, asked, asked)
    }

    fn open_checked_from(
        name: &str,
        opts: &OpenOptions,
        template: Option<&S::Params>,
        asked: Option<&S::Params>,
    ) -> Result<Self, Error> {
        let seg = RawSegment::open_any(name, opts)?;
        let header = seg.header();
        if !S::KINDS.iter().any(|&k| header.kind == k as u32) {
            let wanted = match (template, asked) {
                (Some(t), None) => S::fingerprint(t).describe_any_capacity(S::KINDS[0]),
                _ => S::wanted(),
            };
            return Err(Error::WrongKind { name: name.to_owned(), holds: header.describe(), wanted });
        }
        let params = S::params_for_open(name, header, template)?;
        let (kind, fingerprint) = (S::kind(&params), S::fingerprint(&params));
        // The element type, naming the first differing field; the capacity
        // and kind asked for (if any) are check_existing's.
        seg.expect(kind, &fingerprint, false)?;
        let lay = Self::layout(&params, header.registry_slots)?;
        if header.data_size != lay.size as u64 {
            return Err(Error::Corrupt {
                name: name.to_owned(),
                reason: format!(
                    "state of {} bytes, expected {} for {}",
                    header.data_size,
                    lay.size,
                    fingerprint.describe(kind)
                ),
            });
        }
        if header.data_offset % lay.align as u64 != 0 {
            return Err(Error::Corrupt { name: name.to_owned(), reason: "misaligned state".into() });
        }
        let mut handle = Self::wrap(seg, params);
        let mut params = handle.params.clone();
        handle.state().check_opened(name, &mut params)?;
        if let Some(asked) = asked {
            S::check_existing(name, handle.seg.header(), asked, &params)?;
        }
        handle.params = params;
        Ok(handle)
    }

    fn wrap(seg: RawSegment, params: S::Params) -> Self {
        // SAFETY: the data region lies inside the live mapping, so its start
        // is not null.
        let state = unsafe { NonNull::new_unchecked(seg.data_ptr().cast::<S>()) };
        Handle { seg, state, params, strategy: WaitStrategy::default() }
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.seg.name()
    }

    /// Keeps the name after this (creating) handle is dropped, and marks
    /// the segment persisted (see [`RawSegment::persist`]).
    pub fn persist(&self) {
        self.seg.persist();
    }

    /// Sets how this handle waits when it must block.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// How this handle waits when it must block.
    #[inline]
    pub fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// The state at the start of the data region.
    #[inline]
    pub fn state(&self) -> &S {
        // SAFETY: the data region holds an S, aligned (kind, fingerprint,
        // size and alignment checked at open, or written at create), and
        // lives as long as the mapping in `self.seg`; `S: ShmSafe` makes
        // shared `&S` access from any thread and process sound.
        unsafe { self.state.as_ref() }
    }

    /// The parameters the segment was created with (learnt at open).
    #[inline]
    pub fn params(&self) -> &S::Params {
        &self.params
    }

    /// The segment: its liveness registry and header.
    #[inline]
    pub fn segment(&self) -> &RawSegment {
        &self.seg
    }

    /// Start of the state, for objects that reach a tail after `S`
    /// ([`SegmentState::layout`] says how long the region is).
    #[inline]
    pub fn data_ptr(&self) -> *mut u8 {
        self.state.as_ptr().cast()
    }
}

impl<S: SegmentState> AsRef<RawSegment> for Handle<S> {
    fn as_ref(&self) -> &RawSegment {
        &self.seg
    }
}

impl<S: SegmentState> fmt::Debug for Handle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.name())
            .field("params", &self.params)
            .field("strategy", &self.strategy)
            .finish()
    }
}

/// Writes the public constructor set of an object `struct X(Handle<S>)`:
/// `create`, `create_with`, `open`, `open_with`, `open_or_create`,
/// `open_or_create_with`, `name`, `persist`, and with `waits` also
/// `with_wait_strategy`.
///
/// ```text
/// handle_api! {
///     impl[T: Pod] Value<T>, "value", " holding `value`";
///     create(value: T) => ((), value);
///     waits;
/// }
/// ```
/// An object that is not a `Handle<S>` itself (a queue, whose endpoints
/// share its mapping) names how it is made from one with
/// `wrap(Self::from_handle);` after the first line; `name`, `persist` and
/// `set_wait_strategy` are then called on its field `0`.
///
/// Arguments after a `;` in `create(...)` (`create(; capacity: usize =
/// DEFAULT)`) are taken only by the `_with` forms; the others use the
/// default given.
/// `create`'s arguments map to the handle's parameters and init value;
/// `open_or_create`'s likewise (by default as `create`'s; it may take
/// generics in brackets,
/// `open_or_create[F: Fn() -> T](init: F)`), the init expression being
/// evaluated for each create attempt.
macro_rules! handle_api {
    (
        impl[$($gen:tt)*] $ty:ty, $noun:literal, $what:literal;
        $(wrap($wrap:expr);)?
        create($($arg:ident: $argty:ty),* $(; $($xarg:ident: $xargty:ty = $xdef:expr),+)?) => ($params:expr, $init:expr);
        $($waits:ident;)?
    ) => {
        crate::handle::handle_api! {
            impl[$($gen)*] $ty, $noun, $what;
            $(wrap($wrap);)?
            create($($arg: $argty),* $(; $($xarg: $xargty = $xdef),+)?) => ($params, $init);
            open_or_create($($arg: $argty),*) => ($params, $init);
            $($waits;)?
        }
    };
    (
        impl[$($gen:tt)*] $ty:ty, $noun:literal, $what:literal;
        $(wrap($wrap:expr);)?
        create($($arg:ident: $argty:ty),* $(; $($xarg:ident: $xargty:ty = $xdef:expr),+)?) => ($params:expr, $init:expr);
        open_or_create$([$($ogen:tt)*])?($($oarg:ident: $oargty:ty),*) => ($oparams:expr, $oinit:expr);
        $($waits:ident;)?
    ) => {
        impl<$($gen)*> $ty {
            #[doc = concat!("Creates the ", $noun, " `name`", $what, ". Exclusive: fails if the name exists.")]
            $($(#[doc = concat!("\n\n`", stringify!($xarg), "` is `", stringify!($xdef), "` (see [`Self::create_with`]).")])+)?
            ///
            /// # Errors
            /// [`Error::AlreadyExists`](crate::Error::AlreadyExists),
            /// [`Error::InvalidName`](crate::Error::InvalidName),
            /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for
            /// an argument out of range, or an OS error.
            pub fn create(name: &str, $($arg: $argty),*) -> Result<Self, crate::Error> {
                Self::create_with(name, $($arg,)* $($($xdef,)+)? &crate::OpenOptions::default())
            }

            /// [`Self::create`] with options.
            ///
            /// # Errors
            /// As [`Self::create`].
            pub fn create_with(
                name: &str,
                $($arg: $argty,)*
                $($($xarg: $xargty,)+)?
                opts: &crate::OpenOptions,
            ) -> Result<Self, crate::Error> {
                crate::handle::Handle::create_with(name, $params, $init, opts)
                    .map(crate::handle::handle_api!(@wrap $($wrap)?))
            }

            #[doc = concat!("Opens the existing ", $noun, " `name`.")]
            ///
            /// # Errors
            /// [`Error::NotFound`](crate::Error::NotFound),
            /// [`Error::WrongKind`](crate::Error::WrongKind) or
            /// [`Error::WrongType`](crate::Error::WrongType) if it holds
            /// something else, [`Error::Corrupt`](crate::Error::Corrupt),
            /// and the other checks of a segment open.
            pub fn open(name: &str) -> Result<Self, crate::Error> {
                Self::open_with(name, &crate::OpenOptions::default())
            }

            /// [`Self::open`] with options.
            ///
            /// # Errors
            /// As [`Self::open`].
            pub fn open_with(name: &str, opts: &crate::OpenOptions) -> Result<Self, crate::Error> {
                crate::handle::Handle::open_with(name, opts).map(crate::handle::handle_api!(@wrap $($wrap)?))
            }

            /// Opens `name`, or creates it as [`Self::create`] would: safe
            /// when processes race.
            ///
            /// # Errors
            /// As [`Self::open`] and [`Self::create`].
            pub fn open_or_create$(<$($ogen)*>)?(name: &str, $($oarg: $oargty),*) -> Result<Self, crate::Error> {
                Self::open_or_create_with(name, $($oarg,)* $($($xdef,)+)? &crate::OpenOptions::default())
            }

            /// [`Self::open_or_create`] with options.
            ///
            /// # Errors
            /// As [`Self::open_or_create`].
            pub fn open_or_create_with$(<$($ogen)*>)?(
                name: &str,
                $($oarg: $oargty,)*
                $($($xarg: $xargty,)+)?
                opts: &crate::OpenOptions,
            ) -> Result<Self, crate::Error> {
                crate::handle::Handle::open_or_create_with(name, $oparams, || $oinit, opts)
                    .map(crate::handle::handle_api!(@wrap $($wrap)?))
            }

            /// The segment name.
            pub fn name(&self) -> &str {
                self.0.name()
            }

            /// Keeps the name after this (creating) handle is dropped, and
            /// marks the segment persisted in its header, so that
            /// `shmkit gc` leaves it alone once its creator is gone.
            pub fn persist(&self) {
                self.0.persist();
            }

            $(crate::handle::handle_api!(@$waits);)?
        }
    };
    (@wrap) => {
        Self
    };
    (@wrap $wrap:expr) => {
        $wrap
    };
    (@waits) => {
        /// Sets how this handle waits when it must block:
        /// [`WaitStrategy::Spin`](crate::WaitStrategy::Spin) for the lowest
        /// wake-up latency (burns a CPU while waiting),
        /// [`Park`](crate::WaitStrategy::Park) to sleep at once, or the
        /// default [`Adaptive`](crate::WaitStrategy::Adaptive).
        pub fn with_wait_strategy(mut self, strategy: crate::WaitStrategy) -> Self {
            self.0.set_wait_strategy(strategy);
            self
        }
    };
}
pub(crate) use handle_api;

/// Implements [`SegmentState`] for a state that is one value: no
/// parameters, the fingerprint of one `$elem`, and an init that writes the
/// creator's value into the zeroed state.
///
/// ```text
/// simple_state!(impl[T: ShmType] MutexCell<T>: Mutex, of T, init |cell, value: T| *cell.data.get_mut() = value);
/// ```
macro_rules! simple_state {
    (impl[$($gen:tt)*] $state:ty: $kind:ident, of $elem:ty, init |$s:ident, $v:ident: $vty:ty| $body:expr) => {
        impl<$($gen)*> crate::handle::SegmentState for $state {
            const KINDS: &'static [crate::ObjectKind] = &[crate::ObjectKind::$kind];
            type Params = ();
            type Init<'a> = $vty;

            fn fingerprint((): &()) -> crate::segment::header::Fingerprint {
                crate::segment::header::Fingerprint::of::<$elem>(1)
            }

            fn init(&mut self, _tail: &mut [u8], (): &(), _slots: u32, $v: $vty) {
                let $s = self;
                $body
            }
        }
    };
}
pub(crate) use simple_state;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A state with a parameter in the header (a tail length), one kept in
    /// the state (a stored word), and a tail.
    #[repr(C)]
    struct Probe {
        stored: AtomicU32,
    }

    // SAFETY: repr(C) of one atomic word: any bits valid, no pointers.
    unsafe impl ShmSafe for Probe {}

    impl crate::ShmLayout for Probe {
        fn type_desc() -> crate::TypeDesc {
            crate::TypeDesc::primitive("Probe", 4, 4)
        }
    }

    #[derive(Debug, Clone, Default, PartialEq)]
    struct ProbeParams {
        len: u64,
        stored: u32,
    }

    impl SegmentState for Probe {
        const KINDS: &'static [ObjectKind] = &[ObjectKind::Raw];
        type Params = ProbeParams;
        type Init<'a> = u32;

        fn fingerprint(params: &ProbeParams) -> Fingerprint {
            Fingerprint::of::<Probe>(params.len)
        }

        fn layout(params: &ProbeParams, _slots: u32) -> Result<StateLayout, Error> {
            Ok(StateLayout { size: std::mem::size_of::<Self>() + params.len as usize, align: 4 })
        }

        fn check_init(_params: &ProbeParams, &init: &u32) -> Result<(), Error> {
            if init == 0 {
                return Err(Error::InvalidArgument("zero".into()));
            }
            Ok(())
        }

        fn init(&mut self, tail: &mut [u8], params: &ProbeParams, _slots: u32, init: u32) {
            assert_eq!(tail.len() as u64, params.len);
            assert!(tail.iter().all(|&b| b == 0), "a fresh region is zeroed");
            tail.fill(7);
            self.stored = AtomicU32::new(init);
        }

        fn params_of(_name: &str, header: &Header) -> Result<ProbeParams, Error> {
            Ok(ProbeParams { len: header.capacity, stored: 0 })
        }

        fn check_opened(&self, name: &str, params: &mut ProbeParams) -> Result<(), Error> {
            params.stored = self.stored.load(Ordering::Relaxed);
            if params.stored == 0 {
                return Err(Error::Corrupt { name: name.to_owned(), reason: "zero".into() });
            }
            Ok(())
        }

        fn check_existing(_name: &str, _h: &Header, asked: &ProbeParams, found: &ProbeParams) -> Result<(), Error> {
            if asked.len != found.len {
                return Err(Error::InvalidArgument(format!("{} not {}", found.len, asked.len)));
            }
            Ok(())
        }
    }

    #[derive(Debug)]
    struct ProbeObject(Handle<Probe>);

    handle_api! {
        impl[] ProbeObject, "probe", "";
        create(; len: u64 = 3) => (ProbeParams { len, stored: 5 }, 5);
        waits;
    }

    fn name(tag: &str) -> String {
        format!("unit-handle-{tag}-{}", std::process::id())
    }

    #[test]
    fn create_then_open_learns_the_parameters() {
        let n = name("learn");
        let made = ProbeObject::create(&n).unwrap().with_wait_strategy(WaitStrategy::Park);
        assert_eq!(made.0.params(), &ProbeParams { len: 3, stored: 5 });
        assert_eq!(made.0.strategy(), WaitStrategy::Park);
        let opened = ProbeObject::open(&n).unwrap();
        // Only the creator's handle owns the name.
        opened.persist();
        assert_eq!(opened.name(), n);
        assert_eq!(opened.0.params(), made.0.params());
        assert_eq!(opened.0.strategy(), WaitStrategy::Adaptive);
        // SAFETY: the tail is `len` bytes after the state, in the mapping.
        let tail = unsafe { std::slice::from_raw_parts(opened.0.data_ptr().add(4), 3) };
        assert_eq!(tail, [7, 7, 7]);
        assert!(ProbeObject::open_or_create(&n).is_ok());
        let other = ProbeObject::open_or_create_with(&n, 4, &OpenOptions::default());
        assert!(matches!(other, Err(Error::InvalidArgument(_))), "{other:?}");
        assert!(matches!(ProbeObject::create(&n), Err(Error::AlreadyExists { .. })));
        made.0.state().stored.store(0, Ordering::Relaxed);
        assert!(matches!(ProbeObject::open(&n), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn bad_arguments_create_nothing() {
        let n = name("badarg");
        let params = ProbeParams { len: 1, stored: 0 };
        let made = Handle::<Probe>::create_with(&n, params, 0, &OpenOptions::default());
        assert!(matches!(made, Err(Error::InvalidArgument(_))));
        assert!(matches!(ProbeObject::open(&n), Err(Error::NotFound { .. })));
    }

    #[test]
    fn another_kind_is_refused() {
        let n = name("kind");
        let _event = crate::Event::create(&n).unwrap();
        match ProbeObject::open(&n) {
            Err(Error::WrongKind { wanted, .. }) => assert!(wanted.starts_with("Segment<"), "{wanted}"),
            other => panic!("{other:?}"),
        }
    }
}
