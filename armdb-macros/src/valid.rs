//! Every rule the input must keep, each error spanned at the mistake.

use syn::{Data, Fields, Type};

use crate::ast::{Field, Input};
use crate::attr::CODECS;
use crate::ctxt::Ctxt;

/// The longest tree name the catalog stores, in bytes (`armdb::limits::MAX_TREE_NAME_LEN`).
const MAX_TREE_NAME_LEN: usize = 255;

pub fn check(cx: &Ctxt, input: &Input<'_>) {
    check_shape(cx, input);
    check_tree_attrs(cx, input);
    check_fields(cx, input);
}

fn check_shape(cx: &Ctxt, input: &Input<'_>) {
    let node = input.original;
    match &node.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(_) => {
                if input.keys().next().is_none() {
                    cx.error(
                        input.ident,
                        "#[derive(Tree)] needs at least one `#[key]` field: the primary key",
                    );
                }
            }
            Fields::Unnamed(fields) => cx.error(
                fields,
                "#[derive(Tree)] does not support tuple structs: name the fields, so that keys and \
                 indexes have names",
            ),
            Fields::Unit => cx.error(input.ident, "#[derive(Tree)] needs a struct with named fields"),
        },
        Data::Enum(e) => cx.error(
            e.enum_token,
            "#[derive(Tree)] does not support enums: a record is a struct with named fields (an enum \
             can be the type of a non-key field)",
        ),
        Data::Union(u) => cx.error(u.union_token, "#[derive(Tree)] does not support unions"),
    }
    let generics = &node.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error(
            generics,
            "#[derive(Tree)] does not support generic structs: a tree stores one concrete record \
             type, so that its schema fingerprint is fixed",
        );
    }
}

fn check_tree_attrs(cx: &Ctxt, input: &Input<'_>) {
    if let Some(name) = &input.attrs.name {
        let value = name.value();
        if value.is_empty() || value.len() > MAX_TREE_NAME_LEN {
            cx.error(name, format!("tree names are 1..={MAX_TREE_NAME_LEN} bytes of UTF-8"));
        }
    }
    if let Some(codec) = &input.attrs.codec {
        let value = codec.value();
        if !CODECS.iter().any(|(name, _)| *name == value) {
            let known: Vec<String> = CODECS.iter().map(|(name, _)| format!("\"{name}\"")).collect();
            cx.error(codec, format!("unknown codec \"{value}\"; expected one of {}", known.join(", ")));
        }
    }
}

fn check_fields(cx: &Ctxt, input: &Input<'_>) {
    for field in &input.fields {
        if let (Some(_), Some(index)) = (&field.attrs.key, &field.attrs.index) {
            cx.error(
                &index.tokens,
                format!(
                    "`{}` is a `#[key]` field, so it cannot also be an `#[index]`: the primary key \
                     already finds records by it",
                    field.ident
                ),
            );
        }
        if field.attrs.key.is_some() {
            check_key_type(cx, field);
        }
    }
}

/// Rejects the key types that are plainly not fixed-size or not ordered; the
/// `armdb::Key` bound catches the rest, also at the field.
fn check_key_type(cx: &Ctxt, field: &Field<'_>) {
    let why = match field.ty {
        Type::Reference(_) => Some("a reference is not a fixed-size value"),
        Type::Slice(_) => Some("a slice has no fixed length"),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
            match last.as_str() {
                "String" | "str" | "Vec" | "VecDeque" | "Box" | "Rc" | "Arc" | "Cow" | "HashMap"
                | "BTreeMap" | "HashSet" | "BTreeSet" | "PathBuf" | "OsString" | "Bytes" => {
                    Some("it has no fixed length")
                }
                "Option" => Some("an `Option` key could be absent"),
                "f32" | "f64" => Some("floating-point numbers have no total order"),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(why) = why {
        cx.error(
            field.ty,
            format!(
                "`#[key]` field `{}` must have a fixed-size, ordered type (an integer, `bool`, \
                 `[u8; N]` or a key struct): {why}; use `#[index]` for such fields",
                field.ident
            ),
        );
    }
}
