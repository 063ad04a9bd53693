//! Stable type identity: [`ShmType`], the description of a type's layout
//! ([`TypeDesc`]), its canonical encoding and the fingerprint hashed from it.
//!
//! Two programs share an object when they agree on the *layout* of its
//! element type, not on where the type was defined: `std::any::type_name` is
//! never part of identity. A description is a name (the user's choice: by
//! default the type's own name, without module path), a size, an alignment,
//! and for a struct each field's name, offset and type. Its canonical encoding
//! is a short ASCII text, and the fingerprint is FNV-1a 64 of that text, so a
//! C or Python program computes the same value from the same facts
//! (`docs/FORMAT.md` specifies both, with worked examples):
//!
//! ```text
//! type   = name                                   a primitive or opaque type
//!        | "[" type "; " len "]"                  an array [T; N]
//!        | name "{" [field ("," field)*] "}" "#" size "/" align   a struct
//! field  = name ":" type "@" offset
//! name   = [A-Za-z0-9_]+        numbers = decimal, no sign, no leading zeros
//! ```
//!
//! `u64` encodes as `u64`, `[f32; 4]` as `[f32; 4]`, and
//! `#[repr(C)] struct Job { id: u64, weight: f32, flags: u32 }` as
//! `Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8`.

use std::fmt;
use std::sync::atomic;

use bytemuck::Pod;

/// Longest canonical encoding a segment may store (and an opener parses).
pub(crate) const MAX_ENCODING_LEN: usize = 64 * 1024;
/// Deepest nesting of arrays and structs the parser follows.
const MAX_DEPTH: usize = 64;

/// FNV-1a, 64-bit: small, stable across builds, platforms and languages.
///
/// Offset basis `0xcbf29ce484222325`, prime `0x100000001b3`: for each byte,
/// `h ^= byte; h = h * prime (mod 2^64)`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The layout of a type as two programs must agree on it: a name (the
/// user's choice; by default the type's own name, without module path), a
/// size, an alignment, and for a struct each field's name, offset and type.
/// Its canonical encoding ([`TypeDesc::encode`]) hashed with [`fnv1a`] is the
/// type's fingerprint; `docs/FORMAT.md` specifies both with worked examples,
/// so C and Python compute the same value.
///
/// Build one with [`TypeDesc::primitive`], [`TypeDesc::array`] or
/// [`TypeDesc::structure`]; `#[derive(ShmType)]` writes the last for a
/// `#[repr(C)]` struct.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypeDesc {
    /// The name: `u64`, `Job`; for an array, `[elem; N]` with the element's
    /// name.
    pub name: String,
    /// `size_of` the type.
    pub size: u64,
    /// `align_of` the type.
    pub align: u64,
    /// What the type is made of.
    pub shape: Shape,
}

/// What a described type is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shape {
    /// A number, an atomic, or a shmkit state whose inside the format
    /// version fixes (`EventCell`): known by its name alone.
    Primitive,
    /// `[elem; len]`.
    Array {
        /// The element type.
        elem: Box<TypeDesc>,
        /// The number of elements.
        len: u64,
    },
    /// A `#[repr(C)]` struct: its fields in declaration order.
    Struct(Vec<Field>),
}

/// One field of a described struct.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its offset in bytes from the start of the struct.
    pub offset: u64,
    /// Its type.
    pub ty: TypeDesc,
}

impl Field {
    /// The field `name` of type `ty` at `offset`.
    pub fn new(name: impl Into<String>, offset: usize, ty: TypeDesc) -> Field {
        Field { name: name.into(), offset: offset as u64, ty }
    }
}

impl TypeDesc {
    /// A primitive (or opaque) type known by its name alone.
    pub fn primitive(name: impl Into<String>, size: usize, align: usize) -> TypeDesc {
        TypeDesc { name: name.into(), size: size as u64, align: align as u64, shape: Shape::Primitive }
    }

    /// `[elem; len]`, named `[<elem's name>; len]`.
    pub fn array(elem: TypeDesc, len: usize) -> TypeDesc {
        TypeDesc {
            name: format!("[{}; {len}]", elem.name),
            size: elem.size.saturating_mul(len as u64),
            align: elem.align,
            shape: Shape::Array { elem: Box::new(elem), len: len as u64 },
        }
    }

    /// A `#[repr(C)]` struct of `size` bytes aligned to `align` with
    /// `fields` in declaration order.
    pub fn structure(name: impl Into<String>, size: usize, align: usize, fields: Vec<Field>) -> TypeDesc {
        TypeDesc { name: name.into(), size: size as u64, align: align as u64, shape: Shape::Struct(fields) }
    }

    /// A shmkit cell `C` around user data `T` at `data_offset`, e.g.
    /// `MutexCell{data:u32@4}#8/4`: the lock words before the data are fixed
    /// by the format version, so only the data and where it lies are named.
    pub(crate) fn cell<C, T: ShmLayout>(name: &str, data_offset: usize) -> TypeDesc {
        let data = Field::new("data", data_offset, T::type_desc());
        TypeDesc::structure(name, std::mem::size_of::<C>(), std::mem::align_of::<C>(), vec![data])
    }

    /// The canonical encoding, e.g. `Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8`:
    ///
    /// ```text
    /// type   = name                                   a primitive or opaque type
    ///        | "[" type "; " len "]"                  an array [T; N]
    ///        | name "{" [field ("," field)*] "}" "#" size "/" align   a struct
    /// field  = name ":" type "@" offset
    /// name   = [A-Za-z0-9_]+        numbers = decimal, no sign, no leading zeros
    /// ```
    ///
    /// ```
    /// use shmkit::ShmLayout;
    /// assert_eq!(u64::type_desc().encode(), "u64");
    /// assert_eq!(<[f32; 4]>::type_desc().encode(), "[f32; 4]");
    /// assert_eq!(<[f32; 4]>::type_desc().fingerprint(), 0x0924_c5d3_6832_e379);
    /// ```
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut String) {
        use fmt::Write as _;
        match &self.shape {
            Shape::Primitive => out.push_str(&self.name),
            Shape::Array { elem, len } => {
                out.push('[');
                elem.encode_into(out);
                let _ = write!(out, "; {len}]");
            }
            Shape::Struct(fields) => {
                out.push_str(&self.name);
                out.push('{');
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&f.name);
                    out.push(':');
                    f.ty.encode_into(out);
                    let _ = write!(out, "@{}", f.offset);
                }
                let _ = write!(out, "}}#{}/{}", self.size, self.align);
            }
        }
    }

    /// The fingerprint: FNV-1a 64 of [`TypeDesc::encode`].
    pub fn fingerprint(&self) -> u64 {
        fnv1a(self.encode().as_bytes())
    }
}

/// Describes a type's layout for the identity check of the objects that
/// hold it (see [`ShmType`]).
///
/// `#[derive(ShmType)]` implements it for a `#[repr(C)]` struct. shmkit
/// implements it for every integer and float type, `[T; N]`, the std atomics
/// and its embeddable `*Cell` states. A hand-written implementation must
/// describe the type truthfully (its size, alignment and each field); a wrong
/// description cannot cause undefined behaviour, only a false match or
/// mismatch.
///
/// # What the derive refuses
///
/// At compile time, each with a message saying why: a struct without
/// `#[repr(C)]` (or `#[repr(transparent)]`), whose layout Rust may change
/// ```compile_fail
/// #[derive(shmkit::ShmType)]
/// struct Job { id: u64 }
/// ```
/// references, raw pointers and function pointers, which mean nothing in
/// another process
/// ```compile_fail
/// #[derive(shmkit::ShmType)]
/// #[repr(C)]
/// struct Job { name: &'static str }
/// ```
/// ```compile_fail
/// #[derive(shmkit::ShmType)]
/// #[repr(C)]
/// struct Job { next: *const u64 }
/// ```
/// `bool` and `char`, which do not accept every bit pattern (use `u8`,
/// `u32`)
/// ```compile_fail
/// #[derive(shmkit::ShmType)]
/// #[repr(C)]
/// struct Job { done: bool }
/// ```
/// ```compile_fail
/// #[derive(shmkit::ShmType)]
/// #[repr(C)]
/// struct Job { grade: char }
/// ```
/// enums and unions (store a discriminant as an integer field), and lifetime
/// parameters
/// ```compile_fail
/// #[derive(shmkit::ShmType)]
/// #[repr(u32)]
/// enum State { Idle, Busy }
/// ```
/// ```compile_fail
/// #[derive(shmkit::ShmType)]
/// #[repr(C)]
/// struct Job<'a> { id: u64, tag: std::marker::PhantomData<&'a ()> }
/// ```
/// and a field type that does not describe itself (here a `Vec`):
/// ```compile_fail
/// #[derive(shmkit::ShmType)]
/// #[repr(C)]
/// struct Job { ids: Vec<u64> }
/// ```
/// What it accepts: `#[repr(C)]` (also with `align(N)` or `packed`) or
/// `#[repr(transparent)]` structs with named or tuple fields of described
/// types, and type parameters that are described themselves:
/// ```
/// # #[cfg(feature = "derive")] {
/// use shmkit::ShmLayout;
///
/// #[derive(shmkit::ShmType)]
/// #[repr(C)]
/// struct Pair<T>(T, T);
///
/// #[derive(shmkit::ShmType)]
/// #[repr(C)]
/// #[shm(name = "Job")]
/// struct JobV2 { id: u64, slots: [Pair<u32>; 2] }
///
/// assert_eq!(JobV2::type_desc().encode(), "Job{id:u64@0,slots:[Pair{0:u32@0,1:u32@4}#8/4; 2]@8}#24/8");
/// # }
/// ```
pub trait ShmLayout {
    /// The description of `Self`.
    fn type_desc() -> TypeDesc;
}

/// Plain data with a described layout: what [`Value`](crate::Value),
/// [`Array`](crate::Array), [`Mutex`](crate::Mutex),
/// [`RwLock`](crate::RwLock) and [`Queue`](crate::Queue) hold.
///
/// Implemented for every [`Pod`] type that implements [`ShmLayout`]; derive
/// that with `#[derive(ShmType)]` (the `derive` feature, on by default):
///
/// ```
/// # #[cfg(feature = "derive")] {
/// use shmkit::bytemuck::{Pod, Zeroable};
/// use shmkit::{ShmLayout, ShmType, Value};
///
/// #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
/// #[repr(C)]
/// struct Job {
///     id: u64,
///     weight: f32,
///     flags: u32,
/// }
///
/// assert_eq!(Job::type_desc().encode(), "Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8");
/// # let name = format!("doc-shmtype-{}", std::process::id());
/// let v = Value::create(&name, Job { id: 1, weight: 0.5, flags: 3 })?;
/// assert_eq!(Value::<Job>::open(&name)?.load().id, 1);
/// # }
/// # Ok::<(), shmkit::Error>(())
/// ```
pub trait ShmType: Pod + ShmLayout {}

impl<T: Pod + ShmLayout> ShmType for T {}

macro_rules! primitives {
    ($($t:ty => $name:expr),* $(,)?) => { $(
        impl ShmLayout for $t {
            fn type_desc() -> TypeDesc {
                TypeDesc::primitive($name, std::mem::size_of::<$t>(), std::mem::align_of::<$t>())
            }
        }
    )* };
}

/// The fixed-width name of a pointer-sized integer on this target (`u64`),
/// or of its atomic (`AtomicU64`).
const fn sized_name(signed: bool, atomic: bool) -> &'static str {
    const NAMES: [[&str; 4]; 3] = [
        ["u64", "i64", "AtomicU64", "AtomicI64"],
        ["u32", "i32", "AtomicU32", "AtomicI32"],
        ["u16", "i16", "AtomicU16", "AtomicI16"],
    ];
    let width = match std::mem::size_of::<usize>() {
        8 => 0,
        4 => 1,
        _ => 2,
    };
    NAMES[width][signed as usize + 2 * atomic as usize]
}

primitives!(
    u8 => "u8", u16 => "u16", u32 => "u32", u64 => "u64", u128 => "u128",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", i128 => "i128",
    f32 => "f32", f64 => "f64",
    usize => sized_name(false, false), isize => sized_name(true, false),
);

primitives!(
    atomic::AtomicU8 => "AtomicU8", atomic::AtomicU16 => "AtomicU16",
    atomic::AtomicU32 => "AtomicU32", atomic::AtomicU64 => "AtomicU64",
    atomic::AtomicI8 => "AtomicI8", atomic::AtomicI16 => "AtomicI16",
    atomic::AtomicI32 => "AtomicI32", atomic::AtomicI64 => "AtomicI64",
    atomic::AtomicUsize => sized_name(false, true), atomic::AtomicIsize => sized_name(true, true),
);

primitives!(
    crate::EventCell => "EventCell",
    crate::CondvarCell => "CondvarCell",
    crate::SemaphoreCell => "SemaphoreCell",
    crate::BarrierCell => "BarrierCell",
);

impl<T: ShmLayout, const N: usize> ShmLayout for [T; N] {
    fn type_desc() -> TypeDesc {
        TypeDesc::array(T::type_desc(), N)
    }
}

// ------------------------------------------------------------ the parser

/// A canonical encoding read back: what the diff of two layouts walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Leaf(String),
    Array(Box<Node>, u64),
    Struct { name: String, fields: Vec<(String, u64, Node)>, size: u64, align: u64 },
}

impl Node {
    /// The short name people see: `u64`, `[f32; 4]`, `Job`.
    pub(crate) fn display(&self) -> String {
        match self {
            Node::Leaf(name) | Node::Struct { name, .. } => name.clone(),
            Node::Array(elem, len) => format!("[{}; {len}]", elem.display()),
        }
    }
}

/// Parses a canonical encoding (untrusted: another process, or a corrupted
/// file, may have written it). Never panics; nesting and length are bounded.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    if text.len() > MAX_ENCODING_LEN {
        return Err(format!("type description of {} bytes", text.len()));
    }
    let mut p = Parser { s: text.as_bytes(), at: 0 };
    let node = p.ty(0)?;
    if p.at != p.s.len() {
        return Err(p.fail("end of description"));
    }
    Ok(node)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn fail(&self, what: &str) -> String {
        format!("type description: expected {what} at byte {}", self.at)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, lit: &[u8]) -> Result<(), String> {
        if self.s[self.at..].starts_with(lit) {
            self.at += lit.len();
            Ok(())
        } else {
            Err(self.fail(&format!("'{}'", String::from_utf8_lossy(lit))))
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.fail("a name"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }

    fn number(&mut self) -> Result<u64, String> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.s[start..self.at];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            self.at = start;
            return Err(self.fail("a number"));
        }
        std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).ok_or_else(|| {
            self.at = start;
            self.fail("a number below 2^64")
        })
    }

    fn ty(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(format!("type description nested deeper than {MAX_DEPTH}"));
        }
        if self.peek() == Some(b'[') {
            self.at += 1;
            let elem = self.ty(depth + 1)?;
            self.eat(b"; ")?;
            let len = self.number()?;
            self.eat(b"]")?;
            return Ok(Node::Array(Box::new(elem), len));
        }
        let name = self.name()?;
        if self.peek() != Some(b'{') {
            return Ok(Node::Leaf(name));
        }
        self.at += 1;
        let mut fields = Vec::new();
        if self.peek() != Some(b'}') {
            loop {
                let field = self.name()?;
                self.eat(b":")?;
                let ty = self.ty(depth + 1)?;
                self.eat(b"@")?;
                let offset = self.number()?;
                fields.push((field, offset, ty));
                if self.peek() != Some(b',') {
                    break;
                }
                self.at += 1;
            }
        }
        self.eat(b"}#")?;
        let size = self.number()?;
        self.eat(b"/")?;
        let align = self.number()?;
        Ok(Node::Struct { name, fields, size, align })
    }
}

// -------------------------------------------------------------- the diff

/// The first difference between the layout `there` (stored in a segment)
/// and `here` (the opener's), in words, e.g.
/// `field 'weight' is f32 at offset 8 there, u32 at offset 8 here`; `None`
/// if the types differ in name or not at all (the caller then names both).
pub(crate) fn first_difference(there: &Node, here: &Node) -> Option<String> {
    match (there, here) {
        (Node::Struct { name: a, .. }, Node::Struct { name: b, .. }) if a == b => struct_difference("", there, here),
        (Node::Array(a, n), Node::Array(b, m)) if n == m => element_difference("[]", a, b),
        _ => None,
    }
}

/// The difference inside the element of an array reached by `path`.
fn element_difference(path: &str, there: &Node, here: &Node) -> Option<String> {
    match (there, here) {
        (Node::Struct { name: a, .. }, Node::Struct { name: b, .. }) if a == b => {
            struct_difference(&format!("{path}."), there, here)
        }
        (Node::Array(a, n), Node::Array(b, m)) if n == m => element_difference(&format!("{path}[]"), a, b),
        _ => None,
    }
}

fn struct_difference(prefix: &str, there: &Node, here: &Node) -> Option<String> {
    let (
        Node::Struct { name, fields: theirs, size: s1, align: a1 },
        Node::Struct { fields: ours, size: s2, align: a2, .. },
    ) = (there, here)
    else {
        return None;
    };
    for (field, offset, ty) in ours {
        let path = format!("{prefix}{field}");
        let Some((_, their_offset, their_ty)) = theirs.iter().find(|(f, _, _)| f == field) else {
            return Some(format!("field '{path}' is missing there ({} at offset {offset} here)", ty.display()));
        };
        if their_offset == offset && their_ty == ty {
            continue;
        }
        if their_offset == offset {
            let inner = match (their_ty, ty) {
                (Node::Struct { name: a, .. }, Node::Struct { name: b, .. }) if a == b => {
                    struct_difference(&format!("{path}."), their_ty, ty)
                }
                (Node::Array(a, n), Node::Array(b, m)) if n == m => element_difference(&format!("{path}[]"), a, b),
                _ => None,
            };
            if inner.is_some() {
                return inner;
            }
        }
        return Some(format!(
            "field '{path}' is {} at offset {their_offset} there, {} at offset {offset} here",
            their_ty.display(),
            ty.display()
        ));
    }
    if let Some((field, offset, ty)) = theirs.iter().find(|(f, _, _)| !ours.iter().any(|(g, _, _)| g == f)) {
        return Some(format!("field '{prefix}{field}' is missing here ({} at offset {offset} there)", ty.display()));
    }
    if (s1, a1) != (s2, a2) {
        return Some(format!("{name} is {s1} bytes aligned to {a1} there, {s2} bytes aligned to {a2} here"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct Job {
        id: u64,
        weight: f32,
        flags: u32,
    }

    impl ShmLayout for Job {
        fn type_desc() -> TypeDesc {
            TypeDesc::structure(
                "Job",
                std::mem::size_of::<Job>(),
                std::mem::align_of::<Job>(),
                vec![
                    Field::new("id", std::mem::offset_of!(Job, id), u64::type_desc()),
                    Field::new("weight", std::mem::offset_of!(Job, weight), f32::type_desc()),
                    Field::new("flags", std::mem::offset_of!(Job, flags), u32::type_desc()),
                ],
            )
        }
    }

    /// The worked examples of docs/FORMAT.md: the documented encodings and
    /// fingerprints must stay the code's.
    #[test]
    fn format_md_worked_examples() {
        assert_eq!(u64::type_desc().encode(), "u64");
        assert_eq!(u64::type_desc().fingerprint(), 0x4d35_d319_3e8d_66f2);
        assert_eq!(<[f32; 4]>::type_desc().encode(), "[f32; 4]");
        assert_eq!(<[f32; 4]>::type_desc().fingerprint(), 0x0924_c5d3_6832_e379);
        assert_eq!(Job::type_desc().encode(), "Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8");
        assert_eq!(Job::type_desc().fingerprint(), 0xe552_0faa_4ac6_44fa);
    }

    /// The sizes and offsets docs/FORMAT.md gives for the embeddable states.
    #[cfg(not(loom))]
    #[test]
    fn format_md_cell_layouts() {
        let desc = |d: TypeDesc| (d.encode(), d.size, d.align);
        assert_eq!(desc(crate::EventCell::type_desc()), ("EventCell".into(), 4, 4));
        assert_eq!(desc(crate::CondvarCell::type_desc()), ("CondvarCell".into(), 8, 4));
        assert_eq!(desc(crate::SemaphoreCell::type_desc()), ("SemaphoreCell".into(), 16, 4));
        assert_eq!(desc(crate::BarrierCell::type_desc()), ("BarrierCell".into(), 8256, 64));
        assert_eq!(desc(crate::MutexCell::<u64>::type_desc()).0, "MutexCell{data:u64@8}#16/8");
        assert_eq!(desc(crate::MutexCell::<u8>::type_desc()).0, "MutexCell{data:u8@4}#8/4");
        assert_eq!(desc(crate::RwLockCell::<u64>::type_desc()).0, "RwLockCell{data:u64@4104}#4160/64");
    }

    #[test]
    fn fnv1a_reference_values() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn encodings_parse_back() {
        for d in [u64::type_desc(), <[[u8; 3]; 2]>::type_desc(), Job::type_desc(), <[Job; 2]>::type_desc()] {
            let node = parse(&d.encode()).unwrap();
            assert_eq!(node.display(), d.name);
        }
        assert_eq!(<[[u8; 3]; 2]>::type_desc().name, "[[u8; 3]; 2]");
    }

    #[test]
    fn hostile_encodings_are_errors() {
        let deep = format!("{}u8{}", "[".repeat(100), "; 1]".repeat(100));
        for bad in [
            "",
            "Job{",
            "Job{}",
            "Job{}#1",
            "Job{a:u8@01}#1/1",
            "Job{a:u8@99999999999999999999}#1/1",
            "[u8; ]",
            "[u8;4]",
            "u8 ",
            "J b",
            "Job{a:}#1/1",
            &deep,
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("Job{}#0/1").is_ok());
    }

    #[test]
    fn first_difference_names_the_field() {
        let p = |s: &str| parse(s).unwrap();
        let here = p("Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8");
        let diff = |there: &str| first_difference(&p(there), &here);
        let cases = [
            (
                "Job{id:u64@0,weight:u32@8,flags:u32@12}#16/8",
                "field 'weight' is u32 at offset 8 there, f32 at offset 8 here",
            ),
            (
                "Job{id:u64@0,flags:u32@8,weight:f32@12}#16/8",
                "field 'weight' is f32 at offset 12 there, f32 at offset 8 here",
            ),
            ("Job{id:u64@0,weight:f32@8}#16/8", "field 'flags' is missing there (u32 at offset 12 here)"),
            (
                "Job{id:u64@0,weight:f32@8,flags:u32@12,more:u64@16}#24/8",
                "field 'more' is missing here (u64 at offset 16 there)",
            ),
            (
                "Job{id:u64@0,weight:f32@8,flags:u32@12}#32/16",
                "Job is 32 bytes aligned to 16 there, 16 bytes aligned to 8 here",
            ),
        ];
        for (there, want) in cases {
            assert_eq!(diff(there).as_deref(), Some(want), "{there}");
        }
        assert_eq!(diff("Task{id:u64@0,weight:f32@8,flags:u32@12}#16/8"), None);
        let nested = |inner: &str| p(&format!("Outer{{pos:[V{{x:{inner}@0}}#4/4; 2]@0}}#8/4"));
        assert_eq!(
            first_difference(&nested("u32"), &nested("f32")).unwrap(),
            "field 'pos[].x' is u32 at offset 0 there, f32 at offset 0 here"
        );
    }
}
