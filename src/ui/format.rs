//! Numbers as people read them: `3.2 per day`, `5 h 12 min`, `4.3 %`.

use crate::insights::Level;

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;

/// A deployment rate: per day when daily or more, else per week, else per
/// month (30 days), so the number is never a row of zeros.
pub fn frequency(per_day: f64) -> String {
    if per_day <= 0.0 {
        "none".into()
    } else if per_day >= 1.0 {
        format!("{} per day", one_decimal(per_day))
    } else if per_day * 7.0 >= 1.0 {
        format!("{} per week", one_decimal(per_day * 7.0))
    } else {
        format!("{} per month", one_decimal(per_day * 30.0))
    }
}

/// A duration in the two largest units that matter: `42 s`, `12 min`,
/// `5 h 12 min`, `3 d 4 h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < MINUTE {
        format!("{} s", s.round())
    } else if s < HOUR {
        format!("{} min", (s / MINUTE).round())
    } else if s < DAY {
        let total = (s / MINUTE).round() as u64;
        match (total / 60, total % 60) {
            (24, _) => "1 d".into(),
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        }
    } else {
        let total = (s / HOUR).round() as u64;
        match (total / 24, total % 24) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        }
    }
}

/// A fraction as a percentage with one decimal: `0.043` is `4.3 %`.
pub fn percent(fraction: f64) -> String {
    format!("{} %", one_decimal(fraction * 100.0))
}

/// One decimal, without a trailing `.0` on whole numbers of two digits or more.
fn one_decimal(x: f64) -> String {
    let rounded = (x * 10.0).round() / 10.0;
    if rounded >= 10.0 && rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// A whole count with thousands separated: `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn level(level: Level) -> &'static str {
    match level {
        Level::Elite => "Elite",
        Level::High => "High",
        Level::Medium => "Medium",
        Level::Low => "Low",
    }
}

/// The CSS class of a level's badge.
pub fn level_class(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Elite) => "level level-elite",
        Some(Level::High) => "level level-high",
        Some(Level::Medium) => "level level-medium",
        Some(Level::Low) => "level level-low",
        None => "level level-none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_pick_the_unit_that_keeps_the_number_readable() {
        assert_eq!(frequency(3.2), "3.2 per day");
        assert_eq!(frequency(12.0), "12 per day");
        assert_eq!(frequency(0.5), "3.5 per week");
        assert_eq!(frequency(0.1), "3.0 per month");
        assert_eq!(frequency(0.0), "none");
    }

    #[test]
    fn durations_use_their_two_largest_units() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(720.0), "12 min");
        assert_eq!(duration(5.0 * 3600.0 + 12.0 * 60.0), "5 h 12 min");
        assert_eq!(duration(7200.0), "2 h");
        assert_eq!(duration(86_399.0), "1 d");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3 d 4 h");
        assert_eq!(duration(-3.0), "0 s");
    }

    #[test]
    fn rates_are_percentages_with_one_decimal() {
        assert_eq!(percent(0.043), "4.3 %");
        assert_eq!(percent(0.25), "25 %");
        assert_eq!(percent(0.0), "0.0 %");
    }

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
