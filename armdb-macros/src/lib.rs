//! `#[derive(Tree)]` for armdb: turns a serde struct into a typed tree record.
//!
//! Use it through `armdb::Tree`; the generated code refers to `::armdb` only.
//! The pipeline follows serde_derive and thiserror: `ast` reads the input
//! into a model that keeps syn nodes for spans, `attr` parses the
//! `#[tree]`, `#[key]` and `#[index]` attributes, `valid` collects every
//! mistake with its span, and `expand` generates the code, or on error the
//! errors plus a fallback impl so that one mistake does not cascade.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ast;
mod attr;
mod ctxt;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Derives `armdb::Record` for a struct with named fields. See `armdb::Tree`.
#[proc_macro_derive(Tree, attributes(tree, key, index))]
pub fn derive_tree(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
