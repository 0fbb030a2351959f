//! Time as vigil sees it: wall-clock instants in microseconds, and an injected [`Clock`].
//!
//! Nothing in vigil calls `SystemTime::now()` except [`SystemClock`]; everything else is handed a
//! clock, and tests hand it a [`SimulatedClock`] they move forward by hand.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const MICROS_PER_SEC: i64 = 1_000_000;

/// A wall-clock instant: microseconds since the Unix epoch, UTC.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_secs(secs: i64) -> Time {
        Time(secs.saturating_mul(MICROS_PER_SEC))
    }

    pub fn from_secs_f64(secs: f64) -> Time {
        Time((secs * MICROS_PER_SEC as f64).round() as i64)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SEC as f64
    }

    /// Microseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn micros_since(self, earlier: Time) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    pub fn secs_since(self, earlier: Time) -> f64 {
        self.micros_since(earlier) as f64 / MICROS_PER_SEC as f64
    }

    pub fn plus(self, d: Duration) -> Time {
        Time(self.0.saturating_add(duration_micros(d)))
    }

    pub fn minus(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(duration_micros(d)))
    }

    pub fn plus_micros(self, us: i64) -> Time {
        Time(self.0.saturating_add(us))
    }

    /// Splits into (seconds, nanoseconds) since the epoch, for calendar formatting.
    pub fn to_unix(self) -> (i64, u32) {
        let secs = self.0.div_euclid(MICROS_PER_SEC);
        let nanos = (self.0.rem_euclid(MICROS_PER_SEC) * 1000) as u32;
        (secs, nanos)
    }
}

impl fmt::Display for Time {
    /// RFC 3339 UTC with millisecond precision, e.g. `2026-11-24T22:58:33.123Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, nanos) = self.to_unix();
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            nanos / 1_000_000
        )
    }
}

/// Calendar date (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The source of "now". Injected everywhere; see the module docs.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Time;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time(duration_micros(d))
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct SimulatedClock(Arc<AtomicI64>);

impl SimulatedClock {
    pub fn new(start: Time) -> Self {
        SimulatedClock(Arc::new(AtomicI64::new(start.0)))
    }

    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(duration_micros(d), Ordering::SeqCst);
    }

    pub fn set(&self, t: Time) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> Time {
        Time(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(Time(0).to_string(), "1970-01-01T00:00:00.000Z");
        // 2026-11-24T22:58:33.250Z
        assert_eq!(
            Time(1_795_561_113_250_000).to_string(),
            "2026-11-24T22:58:33.250Z"
        );
        assert_eq!(Time(-1_000).to_string(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn simulated_clock_moves_only_when_told() {
        let c = SimulatedClock::new(Time::from_secs(10));
        let c2 = c.clone();
        assert_eq!(c.now(), Time::from_secs(10));
        c2.advance(Duration::from_millis(1500));
        assert_eq!(c.now(), Time(11_500_000));
    }
}
