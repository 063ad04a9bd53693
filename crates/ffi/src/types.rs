//! `shmkit_type`: element types described at run time, with exactly the
//! canonical encoding and fingerprint of the Rust derive (docs/FORMAT.md).

use std::ffi::{c_char, c_void};
use std::sync::Mutex;

use shmkit::{Field, ShmLayout, TypeDesc};

use crate::handle::{self, object};
use crate::{Fail, Outcome, call, name_arg, need, put, shmkit_status};

/// A described element type: a built-in number, an array, or a C struct
/// built field by field. Make one with a `shmkit_type_new_*` function, free
/// it with `shmkit_type_free`. Objects copy what they need: a type may be
/// freed once the objects made with it are made.
pub struct shmkit_type {
    _private: [u8; 0],
}

object! { shmkit_type => Mutex<TypeDesc>, 1; }

/// Type code: `uint8_t` (Rust `u8`).
pub const SHMKIT_U8: u32 = 1;
/// Type code: `int8_t` (Rust `i8`).
pub const SHMKIT_I8: u32 = 2;
/// Type code: `uint16_t` (Rust `u16`).
pub const SHMKIT_U16: u32 = 3;
/// Type code: `int16_t` (Rust `i16`).
pub const SHMKIT_I16: u32 = 4;
/// Type code: `uint32_t` (Rust `u32`).
pub const SHMKIT_U32: u32 = 5;
/// Type code: `int32_t` (Rust `i32`).
pub const SHMKIT_I32: u32 = 6;
/// Type code: `uint64_t` (Rust `u64`).
pub const SHMKIT_U64: u32 = 7;
/// Type code: `int64_t` (Rust `i64`).
pub const SHMKIT_I64: u32 = 8;
/// Type code: `float` (Rust `f32`).
pub const SHMKIT_F32: u32 = 9;
/// Type code: `double` (Rust `f64`).
pub const SHMKIT_F64: u32 = 10;

/// The description of a built-in type code.
pub(crate) fn primitive(code: u32) -> Result<TypeDesc, Fail> {
    Ok(match code {
        SHMKIT_U8 => u8::type_desc(),
        SHMKIT_I8 => i8::type_desc(),
        SHMKIT_U16 => u16::type_desc(),
        SHMKIT_I16 => i16::type_desc(),
        SHMKIT_U32 => u32::type_desc(),
        SHMKIT_I32 => i32::type_desc(),
        SHMKIT_U64 => u64::type_desc(),
        SHMKIT_I64 => i64::type_desc(),
        SHMKIT_F32 => f32::type_desc(),
        SHMKIT_F64 => f64::type_desc(),
        other => return Err(Fail::arg(format!("type code {other} is not one of SHMKIT_U8 .. SHMKIT_F64"))),
    })
}

/// A copy of the description behind a type handle.
///
/// # Safety
/// `ty` is NULL or a live `shmkit_type` handle.
pub(crate) unsafe fn desc(ty: *const shmkit_type) -> Result<TypeDesc, Fail> {
    // SAFETY: the caller's promise.
    let ty = unsafe { handle::get(ty)? };
    Ok(ty.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

/// Makes the built-in type `code` (`SHMKIT_U8` .. `SHMKIT_F64`). Owned by
/// the caller (`shmkit_type_free`). Thread-safe, never blocks.
///
/// Errors: SHMKIT_INVALID_ARGUMENT (unknown code), SHMKIT_NULL_POINTER.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_new_primitive(code: u32, out: *mut *mut shmkit_type) -> shmkit_status {
    call(|| {
        let d = primitive(code)?;
        // SAFETY: `out` is NULL or writable (the caller's promise).
        unsafe { handle::export(out, Mutex::new(d)) }
    })
}

/// Makes the array type `elem[len]` (Rust `[T; len]`) from a copy of
/// `elem`. Owned by the caller. Thread-safe, never blocks.
///
/// Errors: SHMKIT_NULL_POINTER, SHMKIT_INVALID_HANDLE,
/// SHMKIT_INVALID_ARGUMENT (too large).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_new_array(
    elem: *const shmkit_type,
    len: usize,
    out: *mut *mut shmkit_type,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller passes a type handle or NULL.
        let elem = unsafe { desc(elem)? };
        if elem.size.checked_mul(len as u64).is_none() {
            return Err(Fail::arg(format!("an array of {len} elements of {} bytes", elem.size)));
        }
        // SAFETY: as above.
        unsafe { handle::export(out, Mutex::new(TypeDesc::array(elem, len))) }
    })
}

/// Makes the type of `len` plain bytes (`uint8_t[len]`, Rust `[u8; len]`):
/// a payload whose inside shmkit does not check. Owned by the caller.
/// Thread-safe, never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_new_bytes(len: usize, out: *mut *mut shmkit_type) -> shmkit_status {
    call(|| {
        // SAFETY: `out` is NULL or writable (the caller's promise).
        unsafe { handle::export(out, Mutex::new(TypeDesc::array(u8::type_desc(), len))) }
    })
}

/// Starts a struct type named `name` (letters, digits, `_`: the Rust
/// struct's name, or its `#[shm(name = "...")]`) of `size` bytes aligned to
/// `align` (`sizeof` and `_Alignof` of the C struct). Add its fields in
/// declaration order with `shmkit_type_add_field*`. Owned by the caller.
/// Thread-safe, never blocks.
///
/// Errors: SHMKIT_NULL_POINTER, SHMKIT_INVALID_ARGUMENT (a name with other
/// characters, an alignment that is not a power of two).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_new_struct(
    name: *const c_char,
    size: usize,
    align: usize,
    out: *mut *mut shmkit_type,
) -> shmkit_status {
    call(|| {
        // SAFETY: NULL or a NUL-terminated string (the caller's promise).
        let name = unsafe { name_arg(name) }.map_err(|f| Fail::arg(f.1))?;
        check_ident(name)?;
        if !align.is_power_of_two() {
            return Err(Fail::arg(format!("alignment {align} is not a power of two")));
        }
        // SAFETY: `out` is NULL or writable (the caller's promise).
        unsafe { handle::export(out, Mutex::new(TypeDesc::structure(name, size, align, Vec::new()))) }
    })
}

fn check_ident(name: &str) -> Result<(), Fail> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Fail::arg(format!("type or field name \"{}\" is not of [A-Za-z0-9_]+", name.escape_debug())));
    }
    Ok(())
}

/// Appends the field `name` of type `field_type` (copied) at `offset`
/// (`offsetof`) to the struct type `st`. Not thread-safe on the same `st`;
/// never blocks.
///
/// Errors: SHMKIT_NULL_POINTER, SHMKIT_INVALID_HANDLE,
/// SHMKIT_INVALID_ARGUMENT (`st` is not a struct, a bad name, a duplicate
/// field, a field that runs past the struct's size or is misaligned).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_add_field(
    st: *mut shmkit_type,
    name: *const c_char,
    offset: usize,
    field_type: *const shmkit_type,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller passes a type handle or NULL.
        let ty = unsafe { desc(field_type)? };
        // SAFETY: as above, and a NUL-terminated name or NULL.
        unsafe { add_field(st, name, offset, ty) }
    })
}

/// `shmkit_type_add_field` with a built-in type code for the field's type.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_add_field_primitive(
    st: *mut shmkit_type,
    name: *const c_char,
    offset: usize,
    code: u32,
) -> shmkit_status {
    call(|| {
        let ty = primitive(code)?;
        // SAFETY: the caller passes a type handle and a name, or NULLs.
        unsafe { add_field(st, name, offset, ty) }
    })
}

/// `shmkit_type_add_field` for a field that is an array `code[len]` of a
/// built-in type.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_add_field_array(
    st: *mut shmkit_type,
    name: *const c_char,
    offset: usize,
    code: u32,
    len: usize,
) -> shmkit_status {
    call(|| {
        let ty = TypeDesc::array(primitive(code)?, len);
        // SAFETY: the caller passes a type handle and a name, or NULLs.
        unsafe { add_field(st, name, offset, ty) }
    })
}

/// # Safety
/// `st` is NULL or a live type handle; `name` NULL or NUL-terminated.
unsafe fn add_field(st: *mut shmkit_type, name: *const c_char, offset: usize, ty: TypeDesc) -> Outcome {
    // SAFETY: the caller's promise.
    let st = unsafe { handle::get(st.cast_const())? };
    // SAFETY: the caller's promise.
    let name = unsafe { name_arg(name) }.map_err(|f| Fail::arg(f.1))?;
    check_ident(name)?;
    let mut st = st.lock().unwrap_or_else(|p| p.into_inner());
    let (size, align, sname) = (st.size, st.align, st.name.clone());
    let shmkit::Shape::Struct(fields) = &mut st.shape else {
        return Err(Fail::arg(format!("type '{sname}' is not a struct")));
    };
    if fields.iter().any(|f| f.name == name) {
        return Err(Fail::arg(format!("struct '{sname}' has a field '{name}' already")));
    }
    let end = (offset as u64).checked_add(ty.size);
    if end.is_none_or(|e| e > size) || offset as u64 % ty.align != 0 || ty.align > align {
        return Err(Fail::arg(format!(
            "field '{name}' ({} bytes aligned to {}) at offset {offset} does not fit struct '{sname}' ({size} bytes aligned to {align})",
            ty.size, ty.align
        )));
    }
    fields.push(Field::new(name, offset, ty));
    Ok(shmkit_status::SHMKIT_OK)
}

/// The type's size in bytes, written to `*size`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_size(ty: *const shmkit_type, size: *mut usize) -> shmkit_status {
    call(|| {
        // SAFETY: the caller passes a type handle or NULL.
        let d = unsafe { desc(ty)? };
        // SAFETY: NULL or writable (the caller's promise).
        unsafe { put(size, "size", d.size as usize)? };
        Ok(shmkit_status::SHMKIT_OK)
    })
}

/// The type's fingerprint (FNV-1a 64 of its canonical encoding: what a
/// Rust `#[derive(ShmType)]` struct of the same layout has), written to
/// `*fingerprint`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_fingerprint(ty: *const shmkit_type, fingerprint: *mut u64) -> shmkit_status {
    call(|| {
        // SAFETY: the caller passes a type handle or NULL.
        let d = unsafe { desc(ty)? };
        // SAFETY: NULL or writable (the caller's promise).
        unsafe { put(fingerprint, "fingerprint", d.fingerprint())? };
        Ok(shmkit_status::SHMKIT_OK)
    })
}

/// Writes the type's canonical encoding (e.g.
/// `Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8`) and a NUL to `buf` of
/// `cap` bytes, and its length without the NUL to `*len`. If `cap` is too
/// small, returns SHMKIT_BUFFER_TOO_SMALL with the length in `*len` (`buf`
/// may then be NULL). Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_encode(
    ty: *const shmkit_type,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller passes a type handle or NULL.
        let d = unsafe { desc(ty)? };
        need(len, "len")?;
        let text = d.encode();
        // SAFETY: writable (checked non-NULL above; the caller's promise).
        unsafe { len.write(text.len()) };
        if cap <= text.len() {
            return Err(Fail::new(
                shmkit_status::SHMKIT_BUFFER_TOO_SMALL,
                format!("the encoding needs {} bytes and a NUL, the buffer holds {cap}", text.len()),
            ));
        }
        // SAFETY: `buf` holds `cap` > text.len() bytes (the caller's
        // promise), checked non-NULL by bytes_out.
        let out = unsafe { crate::bytes_out(buf.cast::<c_void>(), cap, "buf")? };
        out[..text.len()].copy_from_slice(text.as_bytes());
        out[text.len()] = 0;
        Ok(shmkit_status::SHMKIT_OK)
    })
}

/// Frees a type handle (NULL is fine; a second free is
/// SHMKIT_INVALID_HANDLE). Objects made with it are not affected.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_type_free(ty: *mut shmkit_type) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(ty) }
}
