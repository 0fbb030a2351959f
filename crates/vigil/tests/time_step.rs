//! The wall clock steps while a clip records: +1 h, −1 h, and back to 1970 (a board with no
//! real-time clock that NTP fixes, a user changing the clock). Deadlines run on the monotonic
//! clock, so the post-roll is what was configured and the clip closes whole and playable; the
//! catalog labels every row from the wall clock when it began, its end being that label plus
//! the monotonic time or media since, so no row gets a negative or huge duration. What comes
//! after the step is labelled on the stepped clock (docs/time.md).
//!
//! With one clock for everything (before the monotonic one), each of these failed: a step back
//! ended the post-roll at the next keyframe (1 s of 3), left the next clip without a pre-roll,
//! and ended the event an hour (or 56 years) before it started; a step forward timed the motion
//! out at once and cut the clip; the worker's pulse never ended.

mod common;

use std::path::Path;
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use vigil::camera::{self, CameraMsg, CameraPipeline};
use vigil::catalog::{Catalog, CatalogWriter, ClipFilter, ClipRow, EventFilter, EventRow};
use vigil::clips::ClipStore;
use vigil::notice::Notice;
use vigil_core::kind::EventKind;
use vigil_core::pool::Pool;
use vigil_core::prebuffer::BufferConfig;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::RecordingSettings;
use vigil_core::time::{Clock, SimulatedClock, Time, MICROS_PER_SEC};

const PRE: u32 = 2;
const POST: u32 = 3;
const HOUR: i64 = 3_600 * MICROS_PER_SEC;

#[derive(Debug, Clone, Copy)]
enum Step {
    ForwardHour,
    BackHour,
    /// To a second after the epoch: a board that lost its date.
    ToEpoch,
}

impl Step {
    fn apply(self, clock: &SimulatedClock) {
        match self {
            Step::ForwardHour => clock.step_wall(HOUR),
            Step::BackHour => clock.step_wall(-HOUR),
            Step::ToEpoch => clock.set_wall(Time::from_secs(1)),
        }
    }
}

fn settings() -> RecordingSettings {
    RecordingSettings {
        pre_buffer_secs: PRE,
        post_buffer_secs: POST,
        ..RecordingSettings::default()
    }
}

fn catalog_of(dir: &Path, notices: &[Notice]) -> (Vec<ClipRow>, Vec<EventRow>) {
    let catalog = Arc::new(Catalog::open(&dir.join("catalog.db")).expect("catalog opens"));
    let mut writer = CatalogWriter::new(catalog.clone(), dir.join("clips"));
    let cam: Arc<str> = "cam".into();
    for n in notices {
        writer.apply(&cam, n);
    }
    let mut clips = catalog.clips(&ClipFilter::default()).expect("clips");
    let mut events = catalog.events(&EventFilter::default()).expect("events");
    clips.sort_by_key(|c| c.id);
    events.sort_by_key(|e| e.id);
    (clips, events)
}

/// Motion from 5 s to 8 s with the wall clock stepped at 7 s, then a second event from 16 s to
/// 17 s on the stepped clock.
fn clip_across_a_step(step: Step) {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H264_AAC, settings(), dir.path());
    cam.run_until(5.0);
    let (motion_from, first_label) = (cam.mono(), cam.clocks().wall);
    cam.motion_start(MotionSource::Api);
    cam.run_until(7.0);
    step.apply(&cam.clock);
    cam.run_until(8.0);
    let motion_secs = cam.mono().secs_since(motion_from);
    cam.motion_end(MotionSource::Api);
    cam.run_until(16.0);
    let second_label = cam.clocks().wall;
    cam.motion_start(MotionSource::Api);
    cam.run_until(17.0);
    cam.motion_end(MotionSource::Api);
    cam.run_until(24.0);
    cam.shutdown();

    // Two clips, each closed by its post-roll, playable, and the first one's post-roll the
    // configured 3 s (up to the next keyframe), the step in the middle of it notwithstanding.
    assert_eq!(cam.closed.len(), 2, "{step:?}: {:#?}", cam.closed);
    for rec in &cam.closed {
        assert_eq!(rec.close_reason, Some("post_roll_expired"), "{step:?}");
        let facts = check_clip(&rec.path);
        assert!(facts.first_video_packet_key, "{step:?}");
        assert!(
            rec.pre_roll_secs >= PRE as f64 && rec.pre_roll_secs <= PRE as f64 + GOP_SECS,
            "{step:?}: pre-roll {}",
            rec.pre_roll_secs
        );
    }
    let first = &cam.closed[0];
    let post_roll = check_clip(&first.path).duration - first.pre_roll_secs - motion_secs;
    assert!(
        post_roll >= POST as f64 - 0.05 && post_roll <= POST as f64 + GOP_SECS + 0.05,
        "{step:?}: post-roll {post_roll:.3} s for {POST} s"
    );

    let (clips, events) = catalog_of(dir.path(), &cam.notices);
    assert_eq!(
        (clips.len(), events.len()),
        (2, 2),
        "{clips:#?} {events:#?}"
    );
    for c in &clips {
        let (start, end) = (c.start.expect("start"), c.end.expect("end"));
        let span = end.secs_since(start);
        assert!(
            span > 0.0 && span < 60.0 && (span - c.duration_secs).abs() < 0.001,
            "{step:?}: clip {} from {start} to {end}, {} s",
            c.key,
            c.duration_secs
        );
    }
    for (e, c) in events.iter().zip(&clips) {
        let (start, end) = (e.start.expect("start"), e.end.expect("end"));
        assert!(
            (0.0..60.0).contains(&end.secs_since(start)),
            "{step:?}: event {} from {start} to {end}",
            e.id
        );
        // A clip's pre-roll ends where its event starts, on the same labels.
        assert_eq!(c.event_id, Some(e.id));
        let lead = start.secs_since(c.start.expect("start"));
        assert!(
            (lead - c.pre_roll_secs).abs() < 0.001,
            "{step:?}: event {} starts {lead:.3} s into its clip, pre-roll {}",
            e.id,
            c.pre_roll_secs
        );
    }
    // The event across the step keeps the labels of its start: it lasted what it lasted.
    assert_eq!(events[0].start, Some(first_label));
    let lasted = events[0].end.expect("end").secs_since(first_label);
    assert!((lasted - motion_secs).abs() < 0.001, "{step:?}: {lasted}");
    // What starts after the step is labelled on the stepped clock, its file dated by it.
    assert_eq!(events[1].start, Some(second_label));
    let day = second_label.to_string()[..10].to_owned();
    assert!(
        clips[1].key.starts_with(&format!("cam/{day}/")),
        "{step:?}: {} for {day}",
        clips[1].key
    );
}

#[test]
fn a_clip_across_a_wall_clock_step_forward_by_an_hour() {
    clip_across_a_step(Step::ForwardHour);
}

#[test]
fn a_clip_across_a_wall_clock_step_back_by_an_hour() {
    clip_across_a_step(Step::BackHour);
}

#[test]
fn a_clip_across_a_wall_clock_step_back_to_1970() {
    clip_across_a_step(Step::ToEpoch);
}

/// The camera worker's own waits and deadlines: a 5 s pulse started before the wall clock
/// steps back ends when the monotonic clock has moved 5 s, not when the wall clock comes back
/// to where it was.
fn a_pulse_across_a_step_in_the_worker(step: Step) {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::new(50 << 20);
    let spool = dir.path().join("spool");
    let buffer = pool
        .register(
            "cam",
            BufferConfig::from_settings(&settings(), spool.clone()),
        )
        .expect("register buffer");
    let store = ClipStore::new(dir.path().join("clips"));
    let pipeline = CameraPipeline::new("cam", settings(), buffer, store, spool);
    let clock = SimulatedClock::new(T0);
    let catalog = Arc::new(Catalog::open(&dir.path().join("catalog.db")).expect("catalog"));
    let mut writer = CatalogWriter::new(catalog.clone(), dir.path().join("clips"));
    let (tx, notices) = channel();
    let handle = camera::spawn(pipeline, Arc::new(clock.clone()), move |camera, n| {
        writer.apply(&Arc::from(camera), &n);
        let _ = tx.send(n);
    })
    .expect("worker starts");
    let wait_for = |what: &str, f: &dyn Fn(&Notice) -> bool| loop {
        match notices.recv_timeout(Duration::from_secs(10)) {
            Ok(n) if f(&n) => return,
            Ok(_) => {}
            Err(e) => panic!("{step:?}: no {what}: {e}"),
        }
    };
    let pulse = |secs| CameraMsg::MotionStart {
        source: MotionSource::Api,
        kind: EventKind::Motion,
        until: Some(clock.monotonic().plus(Duration::from_secs(secs))),
        received: std::time::Instant::now(),
        camera_time: None,
    };
    assert!(handle.send(pulse(5)));
    wait_for("motion start", &|n| {
        matches!(n, Notice::MotionStarted { .. })
    });
    step.apply(&clock);
    clock.advance(Duration::from_secs(5));
    wait_for("motion end", &|n| matches!(n, Notice::MotionEnded { .. }));
    let second_label = clock.now();
    assert!(handle.send(pulse(1)));
    wait_for("second start", &|n| {
        matches!(n, Notice::MotionStarted { .. })
    });
    handle.shutdown();

    let mut events = catalog.events(&EventFilter::default()).expect("events");
    events.sort_by_key(|e| e.id);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0].start, Some(T0), "labelled before the step");
    assert_eq!(
        events[0].end,
        Some(T0.plus(Duration::from_secs(5))),
        "{step:?}"
    );
    assert!(!events[0].timed_out);
    assert_eq!(
        events[1].start,
        Some(second_label),
        "labelled after the step"
    );
}

#[test]
fn a_pulse_ends_on_time_across_a_wall_clock_step_back_by_an_hour() {
    a_pulse_across_a_step_in_the_worker(Step::BackHour);
}

#[test]
fn a_pulse_ends_on_time_across_a_wall_clock_step_back_to_1970() {
    a_pulse_across_a_step_in_the_worker(Step::ToEpoch);
}
