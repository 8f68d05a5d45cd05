//! SOQL date literals (`TODAY`, `LAST_N_DAYS:30`, ...) and the day ranges they stand for, in UTC.

use chrono::{Datelike, Days, Months, NaiveDate};

/// A relative date literal; the `u32` is the `:n` of the `N` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateKeyword {
    Yesterday,
    Today,
    Tomorrow,
    LastWeek,
    ThisWeek,
    NextWeek,
    LastMonth,
    ThisMonth,
    NextMonth,
    Last90Days,
    Next90Days,
    LastQuarter,
    ThisQuarter,
    NextQuarter,
    LastYear,
    ThisYear,
    NextYear,
    LastNDays(u32),
    NextNDays(u32),
    NDaysAgo(u32),
    LastNWeeks(u32),
    NextNWeeks(u32),
    LastNMonths(u32),
    NextNMonths(u32),
    LastNYears(u32),
    NextNYears(u32),
}

/// Whether a keyword name needs a `:n` suffix.
pub fn keyword_takes_number(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "LAST_N_DAYS"
            | "NEXT_N_DAYS"
            | "N_DAYS_AGO"
            | "LAST_N_WEEKS"
            | "NEXT_N_WEEKS"
            | "LAST_N_MONTHS"
            | "NEXT_N_MONTHS"
            | "LAST_N_YEARS"
            | "NEXT_N_YEARS"
    )
}

impl DateKeyword {
    /// Recognizes a keyword name (case-insensitive); `number` is the `:n` for the `N` forms.
    pub fn parse(name: &str, number: Option<u32>) -> Option<DateKeyword> {
        let upper = name.to_ascii_uppercase();
        let keyword = match (upper.as_str(), number) {
            ("YESTERDAY", None) => DateKeyword::Yesterday,
            ("TODAY", None) => DateKeyword::Today,
            ("TOMORROW", None) => DateKeyword::Tomorrow,
            ("LAST_WEEK", None) => DateKeyword::LastWeek,
            ("THIS_WEEK", None) => DateKeyword::ThisWeek,
            ("NEXT_WEEK", None) => DateKeyword::NextWeek,
            ("LAST_MONTH", None) => DateKeyword::LastMonth,
            ("THIS_MONTH", None) => DateKeyword::ThisMonth,
            ("NEXT_MONTH", None) => DateKeyword::NextMonth,
            ("LAST_90_DAYS", None) => DateKeyword::Last90Days,
            ("NEXT_90_DAYS", None) => DateKeyword::Next90Days,
            ("LAST_QUARTER", None) => DateKeyword::LastQuarter,
            ("THIS_QUARTER", None) => DateKeyword::ThisQuarter,
            ("NEXT_QUARTER", None) => DateKeyword::NextQuarter,
            ("LAST_YEAR", None) => DateKeyword::LastYear,
            ("THIS_YEAR", None) => DateKeyword::ThisYear,
            ("NEXT_YEAR", None) => DateKeyword::NextYear,
            ("LAST_N_DAYS", Some(n)) => DateKeyword::LastNDays(n),
            ("NEXT_N_DAYS", Some(n)) => DateKeyword::NextNDays(n),
            ("N_DAYS_AGO", Some(n)) => DateKeyword::NDaysAgo(n),
            ("LAST_N_WEEKS", Some(n)) => DateKeyword::LastNWeeks(n),
            ("NEXT_N_WEEKS", Some(n)) => DateKeyword::NextNWeeks(n),
            ("LAST_N_MONTHS", Some(n)) => DateKeyword::LastNMonths(n),
            ("NEXT_N_MONTHS", Some(n)) => DateKeyword::NextNMonths(n),
            ("LAST_N_YEARS", Some(n)) => DateKeyword::LastNYears(n),
            ("NEXT_N_YEARS", Some(n)) => DateKeyword::NextNYears(n),
            _ => return None,
        };
        Some(keyword)
    }

    /// The first and last day (both inclusive) the keyword covers when today is `today`.
    ///
    /// Weeks start on Sunday (Salesforce's default en_US locale); quarters are calendar quarters.
    pub fn day_range(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let day = |offset: i64| add_days(today, offset);
        let week_start = add_days(today, -i64::from(today.weekday().num_days_from_sunday()));
        let month_start = today.with_day(1).unwrap_or(today);
        let quarter_start =
            NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1).unwrap_or(today);
        let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
        let n = |count: u32| i64::from(count);
        match self {
            DateKeyword::Yesterday => (day(-1), day(-1)),
            DateKeyword::Today => (today, today),
            DateKeyword::Tomorrow => (day(1), day(1)),
            DateKeyword::LastWeek => span_days(add_days(week_start, -7), 7),
            DateKeyword::ThisWeek => span_days(week_start, 7),
            DateKeyword::NextWeek => span_days(add_days(week_start, 7), 7),
            DateKeyword::LastMonth => span_months(add_months(month_start, -1), 1),
            DateKeyword::ThisMonth => span_months(month_start, 1),
            DateKeyword::NextMonth => span_months(add_months(month_start, 1), 1),
            DateKeyword::Last90Days => (day(-90), today),
            DateKeyword::Next90Days => (day(1), day(90)),
            DateKeyword::LastQuarter => span_months(add_months(quarter_start, -3), 3),
            DateKeyword::ThisQuarter => span_months(quarter_start, 3),
            DateKeyword::NextQuarter => span_months(add_months(quarter_start, 3), 3),
            DateKeyword::LastYear => span_months(add_months(year_start, -12), 12),
            DateKeyword::ThisYear => span_months(year_start, 12),
            DateKeyword::NextYear => span_months(add_months(year_start, 12), 12),
            DateKeyword::LastNDays(count) => (day(-n(count)), today),
            DateKeyword::NextNDays(count) => (day(1), day(n(count))),
            DateKeyword::NDaysAgo(count) => (day(-n(count)), day(-n(count))),
            DateKeyword::LastNWeeks(count) => (
                add_days(week_start, -7 * n(count)),
                add_days(week_start, -1),
            ),
            DateKeyword::NextNWeeks(count) => span_days(add_days(week_start, 7), 7 * n(count)),
            DateKeyword::LastNMonths(count) => {
                let months = i64::from(count);
                (add_months(month_start, -months), add_days(month_start, -1))
            }
            DateKeyword::NextNMonths(count) => {
                span_months(add_months(month_start, 1), i64::from(count))
            }
            DateKeyword::LastNYears(count) => {
                let months = 12 * i64::from(count);
                (add_months(year_start, -months), add_days(year_start, -1))
            }
            DateKeyword::NextNYears(count) => {
                span_months(add_months(year_start, 12), 12 * i64::from(count))
            }
        }
    }
}

fn add_days(date: NaiveDate, offset: i64) -> NaiveDate {
    let result = if offset >= 0 {
        date.checked_add_days(Days::new(offset.unsigned_abs()))
    } else {
        date.checked_sub_days(Days::new(offset.unsigned_abs()))
    };
    result.unwrap_or(date)
}

fn add_months(date: NaiveDate, offset: i64) -> NaiveDate {
    let months = u32::try_from(offset.unsigned_abs()).unwrap_or(u32::MAX);
    let result = if offset >= 0 {
        date.checked_add_months(Months::new(months))
    } else {
        date.checked_sub_months(Months::new(months))
    };
    result.unwrap_or(date)
}

/// `count` days starting at `start` as an inclusive range; a zero count ends before it starts, so nothing matches.
fn span_days(start: NaiveDate, count: i64) -> (NaiveDate, NaiveDate) {
    (start, add_days(start, count - 1))
}

fn span_months(start: NaiveDate, count: i64) -> (NaiveDate, NaiveDate) {
    (start, add_days(add_months(start, count), -1))
}

/// Milliseconds since the epoch at 00:00:00 UTC of `date`.
pub fn start_of_day_millis(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map(|moment| moment.and_utc().timestamp_millis())
        .unwrap_or(0)
}
