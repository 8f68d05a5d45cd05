//! Typed field values as the store hands them to the engine, and their REST JSON and CSV encodings (SOAP API Developer Guide: field types).

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Timelike};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};

/// A compound address value (`BillingAddress`); components are the store's own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub latitude: Option<Decimal>,
    pub longitude: Option<Decimal>,
    pub geocode_accuracy: Option<String>,
}

/// One field value, borrowed from the store so reading it never allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Exact decimal (double, currency and percent fields).
    Decimal(Decimal),
    Text(&'a str),
    Date(NaiveDate),
    /// Milliseconds since the Unix epoch, UTC.
    DateTime(i64),
    /// Milliseconds since midnight.
    Time(u32),
    Address(&'a Address),
}

impl FieldValue<'_> {
    /// True for `Null` and for empty text, which Salesforce does not distinguish from null.
    pub fn is_blank(&self) -> bool {
        match self {
            FieldValue::Null => true,
            FieldValue::Text(text) => text.is_empty(),
            _ => false,
        }
    }

    /// The REST JSON encoding: datetimes as `2015-10-19T13:51:35.000+0000`, dates as `2024-01-31`,
    /// numbers exact (no trip through `f64`).
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Null => Value::Null,
            FieldValue::Bool(flag) => Value::Bool(*flag),
            FieldValue::Int(number) => Value::Number(Number::from(*number)),
            FieldValue::Decimal(number) => decimal_json(*number),
            FieldValue::Text(text) => Value::String((*text).to_string()),
            FieldValue::Date(date) => Value::String(format_date(*date)),
            FieldValue::DateTime(millis) => Value::String(format_datetime(*millis)),
            FieldValue::Time(millis) => Value::String(format_time(*millis)),
            FieldValue::Address(address) => address_json(address),
        }
    }

    /// The text a Bulk API CSV cell holds (empty for null; compound values as JSON).
    pub fn to_csv_text(&self) -> String {
        match self {
            FieldValue::Null => String::new(),
            FieldValue::Bool(flag) => flag.to_string(),
            FieldValue::Int(number) => number.to_string(),
            FieldValue::Decimal(number) => number.to_string(),
            FieldValue::Text(text) => (*text).to_string(),
            FieldValue::Date(date) => format_date(*date),
            FieldValue::DateTime(millis) => format_datetime(*millis),
            FieldValue::Time(millis) => format_time(*millis),
            FieldValue::Address(address) => address_json(address).to_string(),
        }
    }
}

fn decimal_json(number: Decimal) -> Value {
    // With serde_json's arbitrary_precision the digits are kept verbatim; without it this still parses.
    match Number::from_str(&number.to_string()) {
        Ok(parsed) => Value::Number(parsed),
        Err(_) => Value::String(number.to_string()),
    }
}

fn optional_text(text: &Option<String>) -> Value {
    match text {
        Some(text) => Value::String(text.clone()),
        None => Value::Null,
    }
}

fn optional_decimal(number: &Option<Decimal>) -> Value {
    match number {
        Some(number) => decimal_json(*number),
        None => Value::Null,
    }
}

fn address_json(address: &Address) -> Value {
    let mut object = Map::new();
    object.insert("city".into(), optional_text(&address.city));
    object.insert("country".into(), optional_text(&address.country));
    object.insert(
        "geocodeAccuracy".into(),
        optional_text(&address.geocode_accuracy),
    );
    object.insert("latitude".into(), optional_decimal(&address.latitude));
    object.insert("longitude".into(), optional_decimal(&address.longitude));
    object.insert("postalCode".into(), optional_text(&address.postal_code));
    object.insert("state".into(), optional_text(&address.state));
    object.insert("street".into(), optional_text(&address.street));
    Value::Object(object)
}

/// `2024-01-31`.
pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// `2015-10-19T13:51:35.000+0000` for milliseconds since the epoch.
pub fn format_datetime(millis: i64) -> String {
    match DateTime::from_timestamp_millis(millis) {
        Some(moment) => moment.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        None => String::new(),
    }
}

/// `13:30:00.000Z` for milliseconds since midnight.
pub fn format_time(millis: u32) -> String {
    let seconds = millis / 1000;
    match chrono::NaiveTime::from_num_seconds_from_midnight_opt(
        seconds,
        (millis % 1000) * 1_000_000,
    ) {
        Some(time) => format!(
            "{:02}:{:02}:{:02}.{:03}Z",
            time.hour(),
            time.minute(),
            time.second(),
            millis % 1000
        ),
        None => String::new(),
    }
}

/// Case-insensitive equality without allocating (ASCII fast path, Unicode lower-casing otherwise).
pub fn text_eq_ci(left: &str, right: &str) -> bool {
    if left.is_ascii() && right.is_ascii() {
        return left.eq_ignore_ascii_case(right);
    }
    text_cmp_ci(left, right) == Ordering::Equal
}

/// Case-insensitive ordering without allocating.
pub fn text_cmp_ci(left: &str, right: &str) -> Ordering {
    if left.is_ascii() && right.is_ascii() {
        let left_bytes = left.bytes().map(|byte| byte.to_ascii_lowercase());
        let right_bytes = right.bytes().map(|byte| byte.to_ascii_lowercase());
        return left_bytes.cmp(right_bytes);
    }
    let left_chars = left.chars().flat_map(char::to_lowercase);
    let right_chars = right.chars().flat_map(char::to_lowercase);
    left_chars.cmp(right_chars)
}

/// Orders two values of one field for ORDER BY (nulls are handled by the caller).
pub fn compare_values(left: &FieldValue<'_>, right: &FieldValue<'_>) -> Ordering {
    match (left, right) {
        (FieldValue::Text(a), FieldValue::Text(b)) => text_cmp_ci(a, b),
        (FieldValue::Int(a), FieldValue::Int(b)) => a.cmp(b),
        (FieldValue::Decimal(a), FieldValue::Decimal(b)) => a.cmp(b),
        (FieldValue::Int(a), FieldValue::Decimal(b)) => Decimal::from(*a).cmp(b),
        (FieldValue::Decimal(a), FieldValue::Int(b)) => a.cmp(&Decimal::from(*b)),
        (FieldValue::Bool(a), FieldValue::Bool(b)) => a.cmp(b),
        (FieldValue::Date(a), FieldValue::Date(b)) => a.cmp(b),
        (FieldValue::DateTime(a), FieldValue::DateTime(b)) => a.cmp(b),
        (FieldValue::Time(a), FieldValue::Time(b)) => a.cmp(b),
        _ => rank(left).cmp(&rank(right)),
    }
}

fn rank(value: &FieldValue<'_>) -> u8 {
    match value {
        FieldValue::Null => 0,
        FieldValue::Bool(_) => 1,
        FieldValue::Int(_) | FieldValue::Decimal(_) => 2,
        FieldValue::Text(_) => 3,
        FieldValue::Date(_) => 4,
        FieldValue::DateTime(_) => 5,
        FieldValue::Time(_) => 6,
        FieldValue::Address(_) => 7,
    }
}
