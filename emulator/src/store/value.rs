//! Typed field values held by the store, and their JSON wire encodings (SOAP API Developer Guide: field types).

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Timelike, Utc};
use rust_decimal::Decimal;
use serde_json::Value as Json;

use super::schema::FieldType;

/// One field value. Ids and references are `Text` holding the 18-character id; multipicklists are `Text`
/// holding `A;B`; compound address fields are never stored (they are built from their components).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    /// Exact decimal, already rounded to the field's scale.
    Decimal(Decimal),
    Text(Box<str>),
    Date(NaiveDate),
    /// Milliseconds since the Unix epoch, UTC.
    DateTime(i64),
    /// Milliseconds since midnight.
    Time(u32),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn text(text: impl Into<Box<str>>) -> Value {
        Value::Text(text.into())
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_datetime_ms(&self) -> Option<i64> {
        match self {
            Value::DateTime(ms) => Some(*ms),
            _ => None,
        }
    }

    /// The JSON encoding of this value in a field of `field_type` with `scale` decimal places.
    pub fn to_json(&self, field_type: FieldType, scale: u32) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::Number((*i).into()),
            Value::Decimal(d) => decimal_json(*d, field_type, scale),
            Value::Text(text) => Json::String(text.to_string()),
            Value::Date(date) => Json::String(format_date(*date)),
            Value::DateTime(ms) => Json::String(format_datetime(*ms)),
            Value::Time(ms) => Json::String(format_time(*ms)),
        }
    }

    /// The plain text form used by validation rules, messages and the state file.
    pub fn display_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::Text(text) => text.to_string(),
            Value::Date(date) => format_date(*date),
            Value::DateTime(ms) => format_datetime(*ms),
            Value::Time(ms) => format_time(*ms),
        }
    }
}

fn decimal_json(value: Decimal, field_type: FieldType, scale: u32) -> Json {
    let mut rounded = value;
    if matches!(
        field_type,
        FieldType::Currency | FieldType::Percent | FieldType::Double
    ) {
        rounded.rescale(scale);
    }
    match rounded.to_string().parse::<serde_json::Number>() {
        Ok(number) => Json::Number(number),
        // Invariant: Decimal's Display is always a valid JSON number.
        Err(_) => Json::String(rounded.to_string()),
    }
}

/// `2015-10-19T13:51:35.000+0000`, the REST datetime form.
pub fn format_datetime(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(at) => at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        None => String::from("1970-01-01T00:00:00.000+0000"),
    }
}

/// `2015-10-19T13:51:35.000Z`, the form CDC payloads and SOQL literals use.
pub fn format_datetime_z(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(at) => at.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => String::from("1970-01-01T00:00:00.000Z"),
    }
}

pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// `13:30:00.000Z`.
pub fn format_time(ms: u32) -> String {
    let seconds = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60,
        ms % 1000
    )
}

/// Parses ISO 8601 datetimes: `Z` or an offset (`+02:00` / `+0200`), with or without milliseconds.
pub fn parse_datetime(text: &str) -> Option<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc).timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(at) = DateTime::parse_from_str(text, format) {
            return Some(at.with_timezone(&Utc).timestamp_millis());
        }
    }
    // A datetime without any zone is read as UTC, as Salesforce does.
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc().timestamp_millis());
        }
    }
    None
}

pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Parses `HH:MM[:SS[.sss]][Z]`.
pub fn parse_time(text: &str) -> Option<u32> {
    let trimmed = text.strip_suffix('Z').unwrap_or(text);
    let time = ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|format| NaiveTime::parse_from_str(trimmed, format).ok())?;
    Some(time.num_seconds_from_midnight() * 1000 + time.nanosecond() / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_round_trips_in_rest_form() {
        let ms = parse_datetime("2015-10-19T13:51:35Z").expect("parses");
        assert_eq!(format_datetime(ms), "2015-10-19T13:51:35.000+0000");
        assert_eq!(
            parse_datetime("2015-10-19T15:51:35.250+02:00"),
            Some(ms + 250)
        );
        assert_eq!(parse_datetime("2015-10-19T13:51:35.000+0000"), Some(ms));
        assert_eq!(parse_datetime("not a date"), None);
    }

    #[test]
    fn time_and_decimal_forms() {
        assert_eq!(
            parse_time("13:30:00.000Z").map(format_time),
            Some("13:30:00.000Z".into())
        );
        let amount: Decimal = "12345678901234.56".parse().expect("decimal");
        assert_eq!(
            Value::Decimal(amount)
                .to_json(FieldType::Currency, 2)
                .to_string(),
            "12345678901234.56"
        );
        assert_eq!(
            Value::Decimal(Decimal::from(5))
                .to_json(FieldType::Currency, 2)
                .to_string(),
            "5.00"
        );
    }
}
