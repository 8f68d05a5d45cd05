//! ISO 8601 text for Postgres date, timestamp and time datums, independent of the session's DateStyle.
//!
//! The output is exactly what `to_jsonb()` produces for these types (`2024-01-31T13:51:35.12`,
//! `13:30:00`), so values captured by the trigger and values re-captured in SQL (`sfsync.retry`) look
//! the same to the sidecar.

/// Postgres dates count days from 2000-01-01.
const POSTGRES_EPOCH_JDAY: i64 = 2_451_545;
const USECS_PER_DAY: i64 = 86_400_000_000;

/// Civil date from a Julian day number (Fliegel & Van Flandern, as in Postgres' j2date).
fn civil_from_julian(jd: i64) -> (i64, u32, u32) {
    let mut julian = jd as u64 as i128;
    julian += 32044;
    let mut quad = julian / 146_097;
    let extra = (julian - quad * 146_097) * 4 + 3;
    julian += 60 + quad * 3 + extra / 146_097;
    quad = julian / 1461;
    julian -= quad * 1461;
    let mut y = julian * 4 / 1461;
    julian = if y != 0 {
        (julian + 305) % 365
    } else {
        (julian + 306) % 366
    } + 123;
    y += quad * 4;
    let year = y - 4800;
    quad = julian * 2141 / 65_536;
    let day = julian - 7834 * quad / 256;
    let month = (quad + 10) % 12 + 1;
    (year as i64, month as u32, day as u32)
}

fn push_date(out: &mut String, days_since_2000: i64) {
    use std::fmt::Write;
    let (y, m, d) = civil_from_julian(days_since_2000 + POSTGRES_EPOCH_JDAY);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

fn push_time_of_day(out: &mut String, usecs: i64) {
    use std::fmt::Write;
    let seconds = usecs / 1_000_000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    let fraction = usecs % 1_000_000;
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// `date` datum (days since 2000-01-01) → `2024-01-31`.
pub fn push_pg_date(out: &mut String, days: i32) {
    match days {
        i32::MIN => out.push_str("-infinity"),
        i32::MAX => out.push_str("infinity"),
        d => push_date(out, d as i64),
    }
}

/// `timestamp` datum (µs since 2000-01-01, UTC by sfsync's convention) → `2024-01-31T13:51:35.123`.
pub fn push_pg_timestamp(out: &mut String, usecs: i64) {
    match usecs {
        i64::MIN => out.push_str("-infinity"),
        i64::MAX => out.push_str("infinity"),
        t => {
            let days = t.div_euclid(USECS_PER_DAY);
            push_date(out, days);
            out.push('T');
            push_time_of_day(out, t.rem_euclid(USECS_PER_DAY));
        }
    }
}

/// `time` datum (µs since midnight) → `13:51:35.5`.
pub fn push_pg_time(out: &mut String, usecs: i64) {
    push_time_of_day(out, usecs);
}

#[cfg(test)]
mod unit {
    use super::*;

    fn ts(usecs: i64) -> String {
        let mut s = String::new();
        push_pg_timestamp(&mut s, usecs);
        s
    }

    #[test]
    fn formats_dates_and_times() {
        assert_eq!(ts(0), "2000-01-01T00:00:00");
        // 2024-01-31 13:51:35.123 UTC
        let days = 8796; // days from 2000-01-01 to 2024-01-31
        assert_eq!(
            ts(days * USECS_PER_DAY + ((13 * 3600 + 51 * 60 + 35) * 1_000_000) + 123_456),
            "2024-01-31T13:51:35.123456"
        );
        assert_eq!(ts(-USECS_PER_DAY), "1999-12-31T00:00:00");
        let mut d = String::new();
        push_pg_date(&mut d, 60);
        assert_eq!(d, "2000-03-01");
        let mut t = String::new();
        push_pg_time(&mut t, (23 * 3600 + 59 * 60 + 59) * 1_000_000 + 500_000);
        assert_eq!(t, "23:59:59.5");
    }
}
