//! Time as vigil sees it: instants in microseconds on two clocks, and an injected [`Clock`].
//!
//! - The **monotonic** clock ([`Clock::monotonic`]) never steps. Every deadline runs on it
//!   (motion timeout, post-roll, maximum clip length, close grace, retries, the workers' waits),
//!   and so do packets' times: a live session's media time is anchored to it
//!   ([`crate::anchor`]). Its origin is arbitrary (the process's first reading).
//! - The **wall** clock ([`Clock::now`]) only labels: clip file names and date folders, catalog
//!   rows, times shown. NTP, a user or a board without a real-time clock can step it by any
//!   amount, either way. A monotonic instant becomes a label through [`Now::label`].
//!
//! Nothing in vigil calls `SystemTime::now()` except [`SystemClock`] (the async tasks' own
//! timeouts use tokio's clock, monotonic too); everything else is handed a clock, and tests hand
//! it a [`SimulatedClock`] they move forward (and step) by hand. docs/time.md tells the story.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub const MICROS_PER_SEC: i64 = 1_000_000;

/// An instant in microseconds. On the wall clock: since the Unix epoch, UTC. On the monotonic
/// clock: since its arbitrary origin. Which clock a value is on is said where it is kept (the
/// module docs list what runs on which).
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

/// The source of "now", on both clocks. Injected everywhere; see the module docs.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The wall clock: for labels only. It can step, either way, by any amount.
    fn now(&self) -> Time;
    /// The monotonic clock: for deadlines and packets' times. It never steps.
    fn monotonic(&self) -> Time;
}

/// Both clocks, read at one moment: what every input of a camera's pipeline is handed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Now {
    /// The monotonic clock: deadlines are compared with this.
    pub mono: Time,
    /// The wall clock: labels are made from this.
    pub wall: Time,
}

impl Now {
    pub fn read(clock: &dyn Clock) -> Now {
        Now {
            mono: clock.monotonic(),
            wall: clock.now(),
        }
    }

    /// Both clocks at `t`: a moment of a simulation in which the wall clock never stepped.
    pub fn at(t: Time) -> Now {
        Now { mono: t, wall: t }
    }

    /// The same reading `us` microseconds later (earlier when negative) on both clocks.
    pub fn plus_micros(self, us: i64) -> Now {
        Now {
            mono: self.mono.plus_micros(us),
            wall: self.wall.plus_micros(us),
        }
    }

    /// Wall minus monotonic: what turns a monotonic instant into a label, as the clocks read
    /// now. It changes only when the wall clock steps.
    pub fn wall_offset(self) -> i64 {
        self.wall.micros_since(self.mono)
    }

    /// The wall-clock label of the monotonic instant `t`, as the clocks read now.
    pub fn label(self, t: Time) -> Time {
        t.plus_micros(self.wall_offset())
    }
}

/// The real clocks: `SystemTime` for the wall, `Instant` for the monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time(duration_micros(d))
    }

    fn monotonic(&self) -> Time {
        // One origin for the whole process, so every reading is on the same timeline.
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        Time(duration_micros(origin.elapsed()))
    }
}

/// Clocks that only move when told to. Clones share the same clocks.
///
/// [`SimulatedClock::advance`] moves both together; [`SimulatedClock::step_wall`] and
/// [`SimulatedClock::set_wall`] step the wall clock alone, as NTP or a user would.
#[derive(Debug, Clone, Default)]
pub struct SimulatedClock(Arc<SimInner>);

#[derive(Debug, Default)]
struct SimInner {
    mono: AtomicI64,
    /// Wall minus monotonic.
    wall_offset: AtomicI64,
}

impl SimulatedClock {
    /// Both clocks read `start`.
    pub fn new(start: Time) -> Self {
        SimulatedClock(Arc::new(SimInner {
            mono: AtomicI64::new(start.0),
            wall_offset: AtomicI64::new(0),
        }))
    }

    /// Moves both clocks forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.mono.fetch_add(duration_micros(d), Ordering::SeqCst);
    }

    /// Moves both clocks forward until the monotonic one reads `t` (never back).
    pub fn advance_to(&self, t: Time) {
        self.0.mono.fetch_max(t.0, Ordering::SeqCst);
    }

    /// Steps the wall clock alone by `micros` (back when negative).
    pub fn step_wall(&self, micros: i64) {
        self.0.wall_offset.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the wall clock alone to `t`.
    pub fn set_wall(&self, t: Time) {
        let mono = self.0.mono.load(Ordering::SeqCst);
        self.0
            .wall_offset
            .store(t.0.saturating_sub(mono), Ordering::SeqCst);
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> Time {
        let mono = self.0.mono.load(Ordering::SeqCst);
        Time(mono.saturating_add(self.0.wall_offset.load(Ordering::SeqCst)))
    }

    fn monotonic(&self) -> Time {
        Time(self.0.mono.load(Ordering::SeqCst))
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
        assert_eq!(c.monotonic(), Time(11_500_000));
    }

    #[test]
    fn a_simulated_wall_clock_steps_alone() {
        let c = SimulatedClock::new(Time::from_secs(100));
        c.step_wall(-3_600 * MICROS_PER_SEC);
        assert_eq!(c.now(), Time::from_secs(100 - 3_600));
        assert_eq!(c.monotonic(), Time::from_secs(100));
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now(), Time::from_secs(102 - 3_600));
        c.set_wall(Time::ZERO);
        c.advance_to(Time::from_secs(105));
        c.advance_to(Time::from_secs(1)); // never back
        let now = Now::read(&c);
        assert_eq!(now.mono, Time::from_secs(105));
        assert_eq!(now.wall, Time::from_secs(3));
        assert_eq!(now.label(Time::from_secs(104)), Time::from_secs(2));
    }

    #[test]
    fn the_system_monotonic_clock_never_goes_back() {
        let a = SystemClock.monotonic();
        let b = SystemClock.monotonic();
        assert!(b >= a && a >= Time::ZERO);
    }
}
