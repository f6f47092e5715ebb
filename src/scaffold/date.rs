//! Today's date in UTC as `YYYY-MM-DD`, for `compatibility_date`. Computed from
//! the system clock with the days-to-civil conversion, so no date crate is needed.

use std::time::{SystemTime, UNIX_EPOCH};

/// Today's UTC date, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Convert days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Works in 400-year eras (146,097 days) counted from 0000-03-01, so leap days
/// fall at the end of each shifted year and need no special case.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_362), (2025, 10, 1));
        // The Python 3.14 boundary date.
        assert_eq!(civil_from_days(20_704), (2026, 9, 8));
        assert_eq!(civil_from_days(20_818), (2026, 12, 31));
        assert_eq!(civil_from_days(20_819), (2027, 1, 1));
    }

    #[test]
    fn consecutive_days_advance_by_one() {
        let mut prev = civil_from_days(0);
        for n in 1..80_000 {
            let cur = civil_from_days(n);
            let next_ok = (cur.0 == prev.0 && cur.1 == prev.1 && cur.2 == prev.2 + 1)
                || (cur.0 == prev.0 && cur.1 == prev.1 + 1 && cur.2 == 1)
                || (cur.0 == prev.0 + 1 && cur.1 == 1 && cur.2 == 1 && prev.1 == 12);
            assert!(next_ok, "{prev:?} -> {cur:?}");
            prev = cur;
        }
    }
}
