//! Column values as JSON text and change detection between two versions of a row, on raw datums.
//!
//! Comparing and encoding datums directly (instead of `to_jsonb(NEW)` / `to_jsonb(OLD)` in SQL) is
//! what keeps capture cheap: an UPDATE touches only the mapped columns, and nothing is parsed.

use super::dates::{push_pg_date, push_pg_time, push_pg_timestamp};
use pgrx::pg_sys::submodules::ffi::pg_guard_ffi_boundary;
use pgrx::pg_sys::{self, Datum, Oid};
use std::ffi::CStr;

/// How a column's datum becomes JSON; chosen once per column from its type.
#[derive(Clone, Copy, Debug)]
pub enum Encoding {
    Bool,
    Int2,
    Int4,
    Int8,
    Numeric,
    /// text, varchar, bpchar: a JSON string.
    Text,
    Date,
    /// timestamp and timestamptz: both hold UTC microseconds.
    Timestamp,
    Time,
    /// Any other type: its output function, as a JSON string.
    Other {
        output_fn: Oid,
    },
}

impl Encoding {
    pub fn for_type(type_oid: Oid) -> Encoding {
        match type_oid {
            pg_sys::BOOLOID => Encoding::Bool,
            pg_sys::INT2OID => Encoding::Int2,
            pg_sys::INT4OID => Encoding::Int4,
            pg_sys::INT8OID => Encoding::Int8,
            pg_sys::NUMERICOID => Encoding::Numeric,
            pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID => Encoding::Text,
            pg_sys::DATEOID => Encoding::Date,
            pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Encoding::Timestamp,
            pg_sys::TIMEOID => Encoding::Time,
            other => {
                let mut output_fn = Oid::INVALID;
                let mut is_varlena = false;
                // SAFETY: a catalog lookup for a type that exists (it is a column's type).
                unsafe {
                    pg_guard_ffi_boundary(|| {
                        pg_sys::getTypeOutputInfo(other, &mut output_fn, &mut is_varlena)
                    })
                };
                Encoding::Other { output_fn }
            }
        }
    }
}

/// The storage facts needed to compare two datums of one column.
#[derive(Clone, Copy, Debug)]
pub struct Storage {
    pub by_value: bool,
    pub length: i16,
}

/// Bytes of a (possibly toasted or short-header) varlena datum.
///
/// # Safety
/// `datum` must be a non-null varlena datum valid for the current memory context.
unsafe fn varlena_bytes<'a>(datum: Datum) -> &'a [u8] {
    unsafe {
        let detoasted =
            pg_guard_ffi_boundary(|| pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr()));
        pgrx::varlena::varlena_to_byte_slice(detoasted)
    }
}

/// True when two non-null datums of a column hold the same value (binary image after detoasting).
///
/// # Safety
/// Both datums must be non-null values of a column with `storage`.
pub unsafe fn same_value(storage: Storage, a: Datum, b: Datum) -> bool {
    if a == b {
        return true;
    }
    if storage.by_value {
        return false;
    }
    unsafe {
        match storage.length {
            -1 => varlena_bytes(a) == varlena_bytes(b),
            -2 => CStr::from_ptr(a.cast_mut_ptr()) == CStr::from_ptr(b.cast_mut_ptr()),
            n => {
                let n = n as usize;
                std::slice::from_raw_parts(a.cast_mut_ptr::<u8>(), n)
                    == std::slice::from_raw_parts(b.cast_mut_ptr::<u8>(), n)
            }
        }
    }
}

/// Appends `bytes` as the inside of a JSON string (the server encoding is passed through unchanged).
pub fn push_json_string_body(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            _ => out.push(b),
        }
    }
}

fn push_quoted_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    push_json_string_body(out, text.as_bytes());
    out.push(b'"');
}

/// Appends the JSON encoding of a non-null datum.
///
/// # Safety
/// `datum` must be a non-null value of the column type `encoding` was built for.
pub unsafe fn push_datum_json(out: &mut Vec<u8>, encoding: Encoding, datum: Datum) {
    use std::io::Write;
    match encoding {
        Encoding::Bool => out.extend_from_slice(if datum.value() != 0 {
            b"true"
        } else {
            b"false"
        }),
        Encoding::Int2 => {
            let _ = write!(out, "{}", datum.value() as i16);
        }
        Encoding::Int4 => {
            let _ = write!(out, "{}", datum.value() as i32);
        }
        Encoding::Int8 => {
            let _ = write!(out, "{}", datum.value() as i64);
        }
        Encoding::Numeric => {
            // SAFETY: numeric_out of a valid numeric datum; the result is a palloc'd C string.
            let text = unsafe {
                CStr::from_ptr(pg_guard_ffi_boundary(|| {
                    pg_sys::OidOutputFunctionCall(Oid::from(pg_sys::F_NUMERIC_OUT), datum)
                }))
            };
            let bytes = text.to_bytes();
            if bytes
                .first()
                .is_some_and(|b| b.is_ascii_digit() || *b == b'-')
                && bytes != b"-Infinity"
            {
                out.extend_from_slice(bytes);
            } else {
                push_quoted_str(out, &text.to_string_lossy()); // NaN / Infinity are not JSON numbers
            }
        }
        Encoding::Text => {
            out.push(b'"');
            // SAFETY: a non-null text-like datum.
            push_json_string_body(out, unsafe { varlena_bytes(datum) });
            out.push(b'"');
        }
        Encoding::Date => {
            let mut s = String::with_capacity(12);
            push_pg_date(&mut s, datum.value() as i32);
            push_quoted_str(out, &s);
        }
        Encoding::Timestamp => {
            let mut s = String::with_capacity(26);
            push_pg_timestamp(&mut s, datum.value() as i64);
            push_quoted_str(out, &s);
        }
        Encoding::Time => {
            let mut s = String::with_capacity(14);
            push_pg_time(&mut s, datum.value() as i64);
            push_quoted_str(out, &s);
        }
        Encoding::Other { output_fn } => {
            // SAFETY: the type's own output function on a valid datum.
            let text = unsafe {
                CStr::from_ptr(pg_guard_ffi_boundary(|| {
                    pg_sys::OidOutputFunctionCall(output_fn, datum)
                }))
            };
            out.push(b'"');
            push_json_string_body(out, text.to_bytes());
            out.push(b'"');
        }
    }
}

#[cfg(test)]
mod unit {
    use super::push_json_string_body;

    #[test]
    fn escapes_json_strings() {
        let mut out = Vec::new();
        push_json_string_body(&mut out, "a\"b\\c\nd\u{1}é".as_bytes());
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\"b\\\\c\\nd\\u0001é");
    }
}
