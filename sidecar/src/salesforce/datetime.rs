//! Salesforce date-time formats: REST writes `2015-10-19T13:51:35.000+0000`, accepts ISO 8601;
//! SOQL literals are unquoted `2024-01-01T00:00:00Z`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};

/// Parses `2015-10-19T13:51:35.000+0000`, `...Z` or `...+00:00`.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// The form REST responses use: milliseconds and a colon-less offset.
pub fn format_rest(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// A SOQL datetime literal (documented grammar: whole seconds, `Z`).
pub fn format_soql(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The `start`/`end` parameters of getUpdated/getDeleted: ISO 8601 with an explicit offset.
pub fn format_replication(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Serde helper for date-time fields in Salesforce JSON.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid date-time {text:?}")))
}

/// Serde helper for optional date-time fields.
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|text| {
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid date-time {text:?}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn all_documented_forms_parse() {
        let expected = Utc
            .with_ymd_and_hms(2015, 10, 19, 13, 51, 35)
            .single()
            .expect("valid");
        assert_eq!(parse("2015-10-19T13:51:35.000+0000"), Some(expected));
        assert_eq!(parse("2015-10-19T13:51:35Z"), Some(expected));
        assert_eq!(parse("2015-10-19T14:51:35+01:00"), Some(expected));
        assert_eq!(parse("2015-10-19T13:51:35.000Z"), Some(expected));
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn formats() {
        let time = Utc
            .with_ymd_and_hms(2013, 5, 5, 0, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(format_rest(&time), "2013-05-05T00:00:00.000+0000");
        assert_eq!(format_soql(&time), "2013-05-05T00:00:00Z");
        assert_eq!(format_replication(&time), "2013-05-05T00:00:00+00:00");
    }
}
