//! The derive input as a model that keeps its syn nodes, for spans.

use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr::{self, FieldAttrs, TreeAttrs};
use crate::ctxt::Ctxt;

pub struct Input<'a> {
    pub original: &'a DeriveInput,
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub attrs: TreeAttrs,
    /// The named fields; empty for anything but a struct with named fields.
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
}

impl<'a> Input<'a> {
    pub fn from_syn(cx: &Ctxt, node: &'a DeriveInput) -> Self {
        let attrs = attr::tree_attrs(cx, &node.attrs);
        let fields = match &node.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => named
                    .named
                    .iter()
                    .filter_map(|f| {
                        let attrs = attr::field_attrs(cx, &f.attrs);
                        f.ident.as_ref().map(|ident| Field { ident, ty: &f.ty, attrs })
                    })
                    .collect(),
                Fields::Unnamed(_) | Fields::Unit => Vec::new(),
            },
            Data::Enum(_) | Data::Union(_) => Vec::new(),
        };
        Input { original: node, ident: &node.ident, vis: &node.vis, attrs, fields }
    }

    pub fn keys(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.attrs.key.is_some())
    }

    pub fn indexes(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.attrs.index.is_some() && f.attrs.key.is_none())
    }

    /// The tree's name: `#[tree(name = "...")]` or the type's name in snake_case.
    pub fn tree_name(&self) -> String {
        match &self.attrs.name {
            Some(lit) => lit.value(),
            None => snake_case(&self.ident.to_string()),
        }
    }

    /// The codec's name: `#[tree(codec = "...")]` or postcard.
    pub fn codec_name(&self) -> String {
        self.attrs.codec.as_ref().map_or_else(|| "postcard".to_owned(), |lit| lit.value())
    }
}

/// `UserAccount` → `user_account`, `HTTPLog` → `http_log`.
pub fn snake_case(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase()));
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake_case("User"), "user");
        assert_eq!(snake_case("UserAccount"), "user_account");
        assert_eq!(snake_case("HTTPLog"), "http_log");
        assert_eq!(snake_case("Event2Fa"), "event2_fa");
        assert_eq!(snake_case("already_snake"), "already_snake");
    }
}
