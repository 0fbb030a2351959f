//! xsd:dateTime and xsd:duration, the tolerant way cameras need.
//!
//! Cameras send `UtcTime` with or without a zone, with or without fractions, sometimes with `-`
//! instead of `T`, and sometimes garbage (minute 61, month 13). [`parse_datetime`] accepts the
//! first kinds and returns `None` for garbage: a camera's time is advisory, vigil's timing stays on
//! its own clock. Times are [`vigil_core::time::Time`] (microseconds since the epoch, UTC).

use std::time::Duration;

use vigil_core::time::{civil_from_days, Time, MICROS_PER_SEC};

/// Days since 1970-01-01 of a calendar date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// A UTC time from calendar fields; `None` when a field is out of range.
pub fn from_civil(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, micros: u32) -> Option<Time> {
    if !(1..=9999).contains(&y) || !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    // 60 is a leap second; hold it at :59.
    if h > 23 || mi > 59 || s > 60 || micros >= 1_000_000 {
        return None;
    }
    let s = s.min(59);
    let secs = days_from_civil(y, mo, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64;
    Some(Time(secs * MICROS_PER_SEC + micros as i64))
}

/// Parses an xsd:dateTime as cameras write it. `None` for anything that is not a valid time.
///
/// Accepted: `2024-03-12T00:45:48Z`, `…48.067761Z`, `…48` (no zone: taken as UTC),
/// `…48+02:00`, `2024-08-17-12:30:45Z` (`-` for `T`), `2024-03-12 00:45:48`.
pub fn parse_datetime(s: &str) -> Option<Time> {
    let b = s.trim().as_bytes();
    let mut p = Cursor { b, i: 0 };
    let neg = p.eat(b'-');
    let y = p.digits(4, 4)? as i64;
    let y = if neg { -y } else { y };
    p.expect(b'-')?;
    let mo = p.digits(2, 2)?;
    p.expect(b'-')?;
    let d = p.digits(2, 2)?;
    match p.next()? {
        b'T' | b't' | b'-' | b' ' | b'_' => {}
        _ => return None,
    }
    let h = p.digits(2, 2)?;
    p.expect(b':')?;
    let mi = p.digits(2, 2)?;
    p.expect(b':')?;
    let sec = p.digits(2, 2)?;
    let mut micros = 0u32;
    if p.eat(b'.') || p.eat(b',') {
        let start = p.i;
        let mut scale = 100_000u32;
        while let Some(c) = p.peek().filter(u8::is_ascii_digit) {
            micros += (c - b'0') as u32 * scale;
            scale /= 10;
            p.i += 1;
        }
        if p.i == start {
            return None;
        }
    }
    let offset_secs: i64 = match p.next() {
        None => 0,
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh = p.digits(2, 2)? as i64;
            p.eat(b':');
            let om = p.digits(2, 2).unwrap_or(0) as i64;
            if oh > 14 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        Some(_) => return None,
    };
    if p.peek().is_some() {
        return None;
    }
    let t = from_civil(y, mo, d, h, mi, sec, micros)?;
    Some(t.plus_micros(-offset_secs * MICROS_PER_SEC))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut v = 0u32;
        while self.i - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + (c - b'0') as u32;
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(v)
    }
}

/// Formats as xsd:dateTime UTC with milliseconds (`2024-03-12T00:45:48.123Z`), as WS-Security's
/// `Created` wants it.
pub fn format_datetime(t: Time) -> String {
    t.to_string()
}

/// Formats with whole seconds (`2024-03-12T00:45:48Z`), the way most cameras answer.
pub fn format_datetime_secs(t: Time) -> String {
    let (secs, _) = t.to_unix();
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Formats with microseconds (`2019-03-13T00:03:30.256687Z`), the way Axis and Pelco answer.
pub fn format_datetime_micros(t: Time) -> String {
    let (secs, nanos) = t.to_unix();
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        nanos / 1000
    )
}

/// Parses an xsd:duration (`PT60S`, `PT1M30S`, `P1D`, `PT0.5S`). Years and months count as 365
/// and 30 days. `None` for anything else (including negative durations).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total = 0f64;
    let mut any = false;
    for (part, units) in [
        (
            date,
            &[
                ('Y', 365.0 * 86_400.0),
                ('M', 30.0 * 86_400.0),
                ('W', 7.0 * 86_400.0),
                ('D', 86_400.0),
            ][..],
        ),
        (
            time.unwrap_or(""),
            &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..],
        ),
    ] {
        let mut num = String::new();
        let mut unit_idx = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let pos = units[unit_idx..].iter().position(|(u, _)| *u == c)? + unit_idx;
            let v: f64 = num.parse().ok()?;
            total += v * units[pos].1;
            unit_idx = pos + 1;
            num.clear();
            any = true;
        }
        if !num.is_empty() {
            return None;
        }
    }
    if time == Some("") || !any || !total.is_finite() || total > 1e12 {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

/// Formats a duration as xsd:duration in seconds (`PT60S`, `PT1.5S`).
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("PT{}S", d.as_secs())
    } else {
        format!("PT{}.{:03}S", d.as_secs(), d.subsec_millis())
    }
}

/// Parses an AbsoluteOrRelativeTimeType (Renew's TerminationTime, InitialTerminationTime)
/// against `now`.
pub fn parse_absolute_or_relative(s: &str, now: Time) -> Option<Time> {
    match parse_duration(s) {
        Some(d) => Some(now.plus(d)),
        None => parse_datetime(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        parse_datetime(s)
            .map(|t| t.0 / MICROS_PER_SEC)
            .unwrap_or(-1)
    }

    #[test]
    fn utc_time_variants() {
        // 2024-03-12T00:45:48Z = 1710204348
        assert_eq!(t("2024-03-12T00:45:48Z"), 1_710_204_348);
        assert_eq!(t("2024-03-12T00:45:48"), 1_710_204_348, "no zone is UTC");
        assert_eq!(t(" 2024-03-12T00:45:48Z\n"), 1_710_204_348);
        assert_eq!(t("2024-03-12-00:45:48Z"), 1_710_204_348, "dash for T");
        assert_eq!(t("2024-03-12 00:45:48"), 1_710_204_348);
        assert_eq!(t("2024-03-12T02:45:48+02:00"), 1_710_204_348);
        assert_eq!(t("2024-03-11T23:45:48-01:00"), 1_710_204_348);
        let frac = parse_datetime("2018-02-27T18:27:56.067761Z").unwrap();
        assert_eq!(frac.0 % MICROS_PER_SEC, 67_761);
        assert_eq!(t("1970-01-01T00:00:00Z"), 0);
        assert_eq!(t("2000-01-02T08:13:22Z"), 946_800_802);
        assert_eq!(
            t("2016-12-31T23:59:60Z"),
            t("2016-12-31T23:59:59Z"),
            "leap second held"
        );
    }

    #[test]
    fn utc_time_garbage_is_none() {
        for bad in [
            "",
            "garbage",
            "2024-08-17T00:61:16Z",
            "2485-13-13T18:14:13Z",
            "2023-02-29T00:00:00Z",
            "2024-03-12T24:00:00Z",
            "2024-03-12T00:45:48Q",
            "2024-03-12T00:45:48.Z",
            "2024-03-12T00:45",
            "2024-03-12T00:45:48Zjunk",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn format_roundtrip() {
        let x = parse_datetime("2019-03-13T00:03:30.256687Z").unwrap();
        assert_eq!(format_datetime_micros(x), "2019-03-13T00:03:30.256687Z");
        assert_eq!(format_datetime(x), "2019-03-13T00:03:30.256Z");
        assert_eq!(format_datetime_secs(x), "2019-03-13T00:03:30Z");
        for days in [-1000i64, 0, 1, 59, 365 * 30 + 7, 20_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT60S"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("PT1M30S"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("P1D"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("P1DT1H"), Some(Duration::from_secs(90_000)));
        for bad in [
            "", "P", "PT", "60", "PT60", "PTS", "PT1S1M", "-PT1S", "PT1X",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(60)), "PT60S");
        assert_eq!(format_duration(Duration::from_millis(1500)), "PT1.500S");
        let now = Time::from_secs(1000);
        assert_eq!(
            parse_absolute_or_relative("PT10S", now),
            Some(Time::from_secs(1010))
        );
        assert_eq!(
            parse_absolute_or_relative("1970-01-01T00:00:05Z", now),
            Some(Time::from_secs(5))
        );
    }
}
