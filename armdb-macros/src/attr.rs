//! The derive's attributes and their parsing. Every keyword is a constant here.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, LitStr, Meta};

use crate::ctxt::Ctxt;

pub const TREE: &str = "tree";
pub const KEY: &str = "key";
pub const INDEX: &str = "index";
pub const NAME: &str = "name";
pub const CODEC: &str = "codec";
pub const UNIQUE: &str = "unique";
pub const SERDE: &str = "serde";

/// The codecs `#[tree(codec = "...")]` accepts, and the `armdb::codec` type of each.
pub const CODECS: &[(&str, &str)] = &[("postcard", "Postcard"), ("bincode", "Bincode")];

/// `#[tree(...)]` on the struct.
#[derive(Default)]
pub struct TreeAttrs {
    pub name: Option<LitStr>,
    pub codec: Option<LitStr>,
    /// `#[serde(...)]` attributes, which change the encoding, for the fingerprint.
    pub serde: Vec<TokenStream>,
}

/// `#[index]` or `#[index(unique)]` on a field.
pub struct IndexAttr {
    /// The whole attribute, to point errors at.
    pub tokens: TokenStream,
    pub unique: bool,
}

/// The attributes of one field.
#[derive(Default)]
pub struct FieldAttrs {
    /// The `#[key]` attribute, if present.
    pub key: Option<TokenStream>,
    pub index: Option<IndexAttr>,
    pub serde: Vec<TokenStream>,
}

fn no_arguments(cx: &Ctxt, attr: &Attribute, what: &str) {
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::List(list) => cx.error(list, format!("`#[{what}]` takes no arguments")),
        Meta::NameValue(nv) => cx.error(nv, format!("`#[{what}]` takes no value")),
    }
}

/// Parses the struct's attributes.
pub fn tree_attrs(cx: &Ctxt, attrs: &[Attribute]) -> TreeAttrs {
    let mut out = TreeAttrs::default();
    for attr in attrs {
        let path = attr.path();
        if path.is_ident(SERDE) {
            out.serde.push(attr.to_token_stream());
        } else if path.is_ident(KEY) || path.is_ident(INDEX) {
            let which = if path.is_ident(KEY) { KEY } else { INDEX };
            cx.error(attr, format!("`#[{which}]` goes on a field, not on the struct"));
        } else if path.is_ident(TREE) {
            if let Meta::Path(_) = attr.meta {
                cx.error(attr, "expected `#[tree(name = \"...\")]` or `#[tree(codec = \"...\")]`");
                continue;
            }
            let parsed = attr.parse_nested_meta(|meta| {
                let slot = if meta.path.is_ident(NAME) {
                    &mut out.name
                } else if meta.path.is_ident(CODEC) {
                    &mut out.codec
                } else {
                    let unknown = meta.path.to_token_stream().to_string().replace(' ', "");
                    return Err(meta
                        .error(format!("unknown tree option `{unknown}`; expected `{NAME}` or `{CODEC}`")));
                };
                let which = if meta.path.is_ident(NAME) { NAME } else { CODEC };
                let value: LitStr = meta.value()?.parse()?;
                if slot.is_some() {
                    cx.error(&meta.path, format!("duplicate tree option `{which}`"));
                } else {
                    *slot = Some(value);
                }
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
        }
    }
    out
}

/// Parses one field's attributes.
pub fn field_attrs(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs {
        let path = attr.path();
        if path.is_ident(SERDE) {
            out.serde.push(attr.to_token_stream());
        } else if path.is_ident(TREE) {
            cx.error(attr, "`#[tree(...)]` goes on the struct, not on a field");
        } else if path.is_ident(KEY) {
            if out.key.is_some() {
                cx.error(attr, "duplicate `#[key]` attribute");
            } else {
                // A malformed `#[key(..)]` still marks a key, so that no "missing key" error follows.
                no_arguments(cx, attr, KEY);
                out.key = Some(attr.to_token_stream());
            }
        } else if path.is_ident(INDEX) {
            if out.index.is_some() {
                cx.error(attr, "duplicate `#[index]` attribute: a field has at most one index");
                continue;
            }
            out.index = index_attr(cx, attr);
        }
    }
    out
}

fn index_attr(cx: &Ctxt, attr: &Attribute) -> Option<IndexAttr> {
    let mut unique = false;
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::NameValue(nv) => {
            cx.error(nv, "expected `#[index]` or `#[index(unique)]`");
            return None;
        }
        Meta::List(_) => {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(UNIQUE) {
                    if unique {
                        cx.error(&meta.path, "duplicate index option `unique`");
                    }
                    unique = true;
                    Ok(())
                } else {
                    let unknown = meta.path.to_token_stream().to_string().replace(' ', "");
                    Err(meta
                        .error(format!("unknown index option `{unknown}`; the only option is `{UNIQUE}`")))
                }
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
                return None;
            }
        }
    }
    Some(IndexAttr { tokens: attr.to_token_stream(), unique })
}
