//! `#[derive(ShmType)]` for [shmkit](https://docs.rs/shmkit): implements
//! `shmkit::ShmLayout` (and so `shmkit::ShmType` for a `Pod` type) for a
//! `#[repr(C)]` struct, describing its name, size, alignment and each
//! field's name, offset and type.
//!
//! Use it through shmkit's re-export (`shmkit::ShmType`, the default
//! `derive` feature):
//!
//! ```text
//! #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
//! #[repr(C)]
//! #[shm(name = "Job")] // optional: the default is the struct's own name
//! struct Job { id: u64, weight: f32, flags: u32 }
//! ```
//!
//! Rejected at compile time, each with a message saying why: anything but a
//! struct (enums, unions), a struct without `#[repr(C)]` (or
//! `#[repr(transparent)]`), lifetime parameters, and fields that are
//! references, raw pointers, function pointers, slices, trait objects,
//! tuples, `bool` or `char`. Type parameters are allowed: each must be
//! `ShmLayout` itself.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Error, GenericParam, LitStr, Type, parse_macro_input};

/// Derives `shmkit::ShmLayout` for a `#[repr(C)]` struct. See the crate
/// docs.
#[proc_macro_derive(ShmType, attributes(shm))]
pub fn derive_shm_type(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(Error::into_compile_error).into()
}

fn expand(input: &DeriveInput) -> Result<TokenStream2, Error> {
    let ident = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        Data::Enum(e) => {
            return Err(Error::new(
                e.enum_token.span(),
                "ShmType cannot be derived for an enum: not every bit pattern is a valid value; \
                 store its discriminant as an integer field instead",
            ));
        }
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span(),
                "ShmType cannot be derived for a union: its layout has no fields to check; \
                 use a struct, or implement ShmLayout by hand",
            ));
        }
    };
    check_repr(input)?;
    let name = shm_name(input)?.unwrap_or_else(|| ident.to_string());

    let mut bounds = Vec::new();
    for param in &input.generics.params {
        match param {
            GenericParam::Lifetime(l) => {
                return Err(Error::new(
                    l.span(),
                    "ShmType cannot be derived for a struct with a lifetime: references mean nothing in \
                     another process",
                ));
            }
            GenericParam::Type(t) => {
                let t = &t.ident;
                bounds.push(quote!(#t: ::shmkit::ShmLayout));
            }
            GenericParam::Const(_) => {}
        }
    }

    let mut entries = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        check_type(&field.ty)?;
        let (member, field_name) = match &field.ident {
            Some(id) => (quote!(#id), id.to_string()),
            None => {
                let index = syn::Index::from(i);
                (quote!(#index), i.to_string())
            }
        };
        let field_name = field_name.trim_start_matches("r#").to_owned();
        let ty = &field.ty;
        entries.push(quote_spanned! {field.ty.span()=>
            ::shmkit::Field::new(
                #field_name,
                ::core::mem::offset_of!(Self, #member),
                <#ty as ::shmkit::ShmLayout>::type_desc(),
            )
        });
    }

    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut predicates: Vec<TokenStream2> =
        where_clause.map(|w| w.predicates.iter().map(|p| quote!(#p)).collect()).unwrap_or_default();
    predicates.extend(bounds);
    Ok(quote! {
        impl #impl_generics ::shmkit::ShmLayout for #ident #ty_generics where #(#predicates,)* {
            fn type_desc() -> ::shmkit::TypeDesc {
                ::shmkit::TypeDesc::structure(
                    #name,
                    ::core::mem::size_of::<Self>(),
                    ::core::mem::align_of::<Self>(),
                    ::std::vec![#(#entries),*],
                )
            }
        }
    })
}

/// The struct must have a layout another program can reproduce.
fn check_repr(input: &DeriveInput) -> Result<(), Error> {
    let mut stable = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                stable = true;
            }
            // align(N), packed(N): read and ignore their arguments.
            if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                let _: TokenStream2 = content.parse()?;
            }
            Ok(())
        })?;
    }
    if !stable {
        return Err(Error::new(
            input.ident.span(),
            "ShmType needs #[repr(C)] (or #[repr(transparent)]): Rust's default layout may reorder fields \
             and differ between compilers, so another program could not agree on it",
        ));
    }
    Ok(())
}

/// `#[shm(name = "...")]`, checked against the name rule of the encoding.
fn shm_name(input: &DeriveInput) -> Result<Option<String>, Error> {
    let mut name = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("shm")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                let value = lit.value();
                if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(Error::new(
                        lit.span(),
                        "a shm name is one or more of [A-Za-z0-9_] (it is part of a text that C and Python \
                         programs compute too)",
                    ));
                }
                name = Some(value);
                Ok(())
            } else {
                Err(meta.error("unknown shm attribute; the one supported is #[shm(name = \"...\")]"))
            }
        })?;
    }
    Ok(name)
}

/// Rejects field types that cannot be shared, with a reason.
fn check_type(ty: &Type) -> Result<(), Error> {
    let fail = |why: &str| Err(Error::new(ty.span(), format!("ShmType field type not allowed: {why}")));
    match ty {
        Type::Reference(_) => fail("a reference is an address, which means nothing in another process"),
        Type::Ptr(_) => fail("a raw pointer is an address, which means nothing in another process"),
        Type::FnPtr(_) => fail("a function pointer is an address, which means nothing in another process"),
        Type::Slice(_) => fail("a slice has no fixed size; use an array [T; N]"),
        Type::TraitObject(_) | Type::ImplTrait(_) => fail("a trait object has no fixed layout"),
        Type::Tuple(t) if t.elems.is_empty() => fail("() has no bytes to share"),
        Type::Tuple(_) => fail("a tuple has no stable layout; use a #[repr(C)] struct"),
        Type::Never(_) => fail("! has no values"),
        Type::Array(a) => check_type(&a.elem),
        Type::Paren(p) => check_type(&p.elem),
        Type::Group(g) => check_type(&g.elem),
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            let last = &p.path.segments[0].ident;
            if last == "bool" {
                fail("bool accepts only 0 and 1, but shared memory may hold any byte; use u8")
            } else if last == "char" {
                fail("char accepts only Unicode scalar values, but shared memory may hold any bits; use u32")
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}
