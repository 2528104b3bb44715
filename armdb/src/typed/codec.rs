//! How records of typed trees are encoded in the log.
//!
//! [`Postcard`] is the default; [`Bincode`] (bincode 2, standard configuration)
//! is offered with the `bincode` cargo feature. A record type picks its codec
//! with `#[tree(codec = "bincode")]`; the choice is part of its schema
//! fingerprint, so data is never decoded with another codec than it was written with.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The error a codec reports.
pub type CodecError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A serde data format for records.
///
/// Implementations must round-trip: `decode(encode(v)) == v` for every value
/// the record type can hold, and `decode` must reject trailing bytes.
pub trait Codec: Send + Sync + 'static {
    /// The codec's name, shown in errors.
    const NAME: &'static str;

    /// Appends the encoding of `value` to `out`.
    ///
    /// # Errors
    /// Whatever the format reports (e.g. a map with non-string keys in a format that needs them).
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes a value that must fill `bytes` exactly.
    ///
    /// # Errors
    /// Malformed or truncated input, or bytes left over after the value.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError>;
}

fn trailing(n: usize) -> CodecError {
    format!("{n} trailing bytes after the record").into()
}

/// [postcard](https://docs.rs/postcard): compact, varint-based, no field names. The default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Postcard;

impl Codec for Postcard {
    const NAME: &'static str = "postcard";

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        postcard::to_io(value, out)?;
        Ok(())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        let (value, rest) = postcard::take_from_bytes(bytes)?;
        if rest.is_empty() { Ok(value) } else { Err(trailing(rest.len())) }
    }
}

/// [bincode 2](https://docs.rs/bincode) with its standard configuration
/// (little-endian, varint integers). Needs the `bincode` cargo feature.
#[cfg(feature = "bincode")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Bincode;

#[cfg(feature = "bincode")]
impl Codec for Bincode {
    const NAME: &'static str = "bincode";

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        bincode::serde::encode_into_std_write(value, out, bincode::config::standard())?;
        Ok(())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        let (value, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())?;
        if used == bytes.len() { Ok(value) } else { Err(trailing(bytes.len() - used)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<C: Codec>() {
        let value = (7u64, String::from("héllo"), vec![-1i32, 2], Some(true));
        let mut out = Vec::new();
        C::encode(&value, &mut out).expect("encode");
        let back: (u64, String, Vec<i32>, Option<bool>) = C::decode(&out).expect("decode");
        assert_eq!(back, value);
        out.push(0);
        assert!(C::decode::<(u64, String, Vec<i32>, Option<bool>)>(&out).is_err(), "trailing byte");
        assert!(C::decode::<(u64, String, Vec<i32>, Option<bool>)>(&out[..3]).is_err(), "truncated");
    }

    #[test]
    fn postcard_round_trips_and_rejects_trailing_bytes() {
        round_trip::<Postcard>();
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_round_trips_and_rejects_trailing_bytes() {
        round_trip::<Bincode>();
    }
}
