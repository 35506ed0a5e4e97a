//! Turning PostgreSQL text values into JSON, decided by type OID:
//! integers and floats become numbers (int8 beyond ±(2^53−1) a string, so
//! JavaScript loses nothing), NaN and ±Infinity strings, numeric a string,
//! bool a bool, NULL null, bytea as the binary codec says, and everything
//! else PostgreSQL's own text form.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use serde_json::{Number, Value};

/// Type OIDs that need more than their text form.
mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const OID: u32 = 26;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
}

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// How bytea values are shown (`--binary-codec`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BinaryCodec {
    /// PostgreSQL's text form (`\x0102ff`).
    #[default]
    None,
    /// Lowercase hex of the bytes.
    Hex,
    /// Base58, Bitcoin alphabet.
    Base58,
    /// Standard base64 with padding.
    Base64,
}

impl FromStr for BinaryCodec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(BinaryCodec::None),
            "hex" => Ok(BinaryCodec::Hex),
            "base58" => Ok(BinaryCodec::Base58),
            "base64" => Ok(BinaryCodec::Base64),
            other => Err(format!("unknown binary codec \"{other}\" (expected none, hex, base58 or base64)")),
        }
    }
}

impl fmt::Display for BinaryCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryCodec::None => "none",
            BinaryCodec::Hex => "hex",
            BinaryCodec::Base58 => "base58",
            BinaryCodec::Base64 => "base64",
        })
    }
}

/// Converts one value in text form to JSON.
pub fn to_json(type_oid: u32, raw: Option<&[u8]>, codec: BinaryCodec) -> Value {
    let Some(raw) = raw else { return Value::Null };
    let text = String::from_utf8_lossy(raw);
    match type_oid {
        oid::BOOL => Value::Bool(raw == b"t"),
        oid::INT2 | oid::INT4 | oid::INT8 | oid::OID => match text.parse::<i64>() {
            Ok(n) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) => Value::Number(n.into()),
            _ => Value::String(text.into_owned()),
        },
        oid::FLOAT4 | oid::FLOAT8 => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.into_owned())),
        oid::BYTEA if codec != BinaryCodec::None => match decode_bytea(raw) {
            Some(bytes) => Value::String(encode(&bytes, codec)),
            None => Value::String(text.into_owned()),
        },
        _ => Value::String(text.into_owned()),
    }
}

fn encode(bytes: &[u8], codec: BinaryCodec) -> String {
    match codec {
        BinaryCodec::None | BinaryCodec::Hex => hex::encode(bytes),
        BinaryCodec::Base58 => bs58::encode(bytes).into_string(),
        BinaryCodec::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}

/// Decodes bytea's text form, in either output format: `hex` (`\x...`, the
/// default) or `escape` (printable bytes as is, others as `\nnn`, `\\`).
pub fn decode_bytea(text: &[u8]) -> Option<Vec<u8>> {
    if let Some(digits) = text.strip_prefix(b"\\x") {
        return hex::decode(digits).ok();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' if text.get(i + 1) == Some(&b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            b'\\' => {
                let octal = std::str::from_utf8(text.get(i + 1..i + 4)?).ok()?;
                out.push(u8::from_str_radix(octal, 8).ok()?);
                i += 4;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(oid: u32, text: &str) -> Value {
        to_json(oid, Some(text.as_bytes()), BinaryCodec::None)
    }

    #[test]
    fn integers_stay_exact_in_javascript() {
        assert_eq!(conv(oid::INT8, "9007199254740991"), json!(9007199254740991_i64));
        assert_eq!(conv(oid::INT8, "9007199254740992"), json!("9007199254740992"));
        assert_eq!(conv(oid::INT8, "-9223372036854775808"), json!("-9223372036854775808"));
        assert_eq!(conv(oid::INT2, "-5"), json!(-5));
    }

    #[test]
    fn floats_and_special_values() {
        assert_eq!(conv(oid::FLOAT8, "1.5"), json!(1.5));
        assert_eq!(conv(oid::FLOAT4, "1.1"), json!(1.1));
        assert_eq!(conv(oid::FLOAT8, "NaN"), json!("NaN"));
        assert_eq!(conv(oid::FLOAT8, "Infinity"), json!("Infinity"));
        assert_eq!(conv(oid::FLOAT8, "-Infinity"), json!("-Infinity"));
    }

    #[test]
    fn bytea_under_each_codec() {
        let raw = Some(&b"\\x00ff10"[..]);
        assert_eq!(to_json(oid::BYTEA, raw, BinaryCodec::None), json!("\\x00ff10"));
        assert_eq!(to_json(oid::BYTEA, raw, BinaryCodec::Hex), json!("00ff10"));
        assert_eq!(to_json(oid::BYTEA, raw, BinaryCodec::Base64), json!("AP8Q"));
        assert_eq!(to_json(oid::BYTEA, raw, BinaryCodec::Base58), json!(bs58::encode([0u8, 255, 16]).into_string()));
        // Text is never re-encoded, whatever it contains.
        assert_eq!(to_json(25, Some("tab\there é".as_bytes()), BinaryCodec::Hex), json!("tab\there é"));
    }

    #[test]
    fn bytea_escape_format_decodes() {
        assert_eq!(decode_bytea(b"a\\000\\\\b\\377"), Some(vec![b'a', 0, b'\\', b'b', 255]));
        assert_eq!(decode_bytea(b"\\x"), Some(vec![]));
        assert_eq!(decode_bytea(b"\\9"), None);
    }

    #[test]
    fn codec_names() {
        assert_eq!("base58".parse::<BinaryCodec>(), Ok(BinaryCodec::Base58));
        assert!("rot13".parse::<BinaryCodec>().unwrap_err().contains("rot13"));
    }
}
