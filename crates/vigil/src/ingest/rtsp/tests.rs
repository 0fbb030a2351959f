//! The run loop against scripted sessions, in paused tokio time: reconnects, backoff, stalls,
//! shutdown. No network.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use vigil_core::packet::{VideoCodec, VideoParams};
use vigil_core::time::{SimulatedClock, Time};

use super::*;

#[derive(Debug, Clone)]
enum Step {
    Frame(RawFrame),
    Wait(Duration),
    Fail(RtspError),
    /// Never answers again (a silent UDP stream).
    Hang,
}

/// Each `open` takes the next script; `Err` scripts fail the open itself.
#[derive(Default)]
struct Scripted {
    scripts: Mutex<VecDeque<Result<Vec<Step>, RtspError>>>,
    opens: Mutex<Vec<tokio::time::Instant>>,
}

impl Scripted {
    fn new(scripts: Vec<Result<Vec<Step>, RtspError>>) -> Scripted {
        Scripted {
            scripts: Mutex::new(scripts.into()),
            opens: Mutex::default(),
        }
    }
    fn opens(&self) -> Vec<tokio::time::Instant> {
        self.opens.lock().unwrap().clone()
    }
}

struct ScriptedSession {
    info: SessionInfo,
    steps: VecDeque<Step>,
    wait_until: Option<tokio::time::Instant>,
}

impl RtspOpener for Scripted {
    fn open<'a>(
        &'a self,
        _: &'a RtspConfig,
    ) -> BoxFuture<'a, Result<Box<dyn RtspSession>, RtspError>> {
        Box::pin(async move {
            self.opens.lock().unwrap().push(tokio::time::Instant::now());
            // Out of scripts: a camera that refuses connections from now on.
            let script = self
                .scripts
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Err(RtspError::Protocol("connection refused".into())))?;
            Ok(Box::new(ScriptedSession {
                info: SessionInfo::default(),
                steps: script.into(),
                wait_until: None,
            }) as Box<dyn RtspSession>)
        })
    }
}

impl RtspSession for ScriptedSession {
    fn info(&self) -> &SessionInfo {
        &self.info
    }
    fn next(&mut self) -> BoxFuture<'_, Option<Result<RawFrame, RtspError>>> {
        // Cancel-safe, as the trait asks: a step is consumed only once it is done.
        Box::pin(async move {
            loop {
                match self.steps.front()? {
                    Step::Frame(_) | Step::Fail(_) => {
                        return match self.steps.pop_front()? {
                            Step::Frame(f) => Some(Ok(f)),
                            Step::Fail(e) => Some(Err(e)),
                            _ => unreachable!(),
                        }
                    }
                    Step::Wait(d) => {
                        let d = *d;
                        let until = *self
                            .wait_until
                            .get_or_insert_with(|| tokio::time::Instant::now() + d);
                        tokio::time::sleep_until(until).await;
                        self.wait_until = None;
                        self.steps.pop_front();
                    }
                    Step::Hang => futures::future::pending::<()>().await,
                }
            }
        })
    }
}

fn params(width: u16) -> VideoParams {
    VideoParams {
        codec: VideoCodec::H264,
        width,
        height: 240,
        config: Bytes::from_static(b"avcC"),
    }
}

/// `n` frames of a 30 fps stream starting with a keyframe, each after a 33 ms wait.
fn gop(n: usize, width: u16) -> Vec<Step> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(Step::Wait(Duration::from_millis(33)));
        v.push(Step::Frame(RawFrame::Video(RawVideo {
            npt: i as i64 * 3000,
            clock_rate: 90_000,
            random_access: i == 0,
            params: (i == 0).then(|| params(width)),
            loss: 0,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        })));
    }
    v
}

fn cfg() -> RtspConfig {
    RtspConfig::new("rtsp://127.0.0.1:1/cam")
}

/// Runs the loop until `until` (virtual time) and returns every event in order.
async fn run_for(opener: &Scripted, until: Duration) -> (Vec<SourceEvent>, IngestSnapshot, RunEnd) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let stats = Arc::new(IngestStats::new());
    let clock = Arc::new(SimulatedClock::new(Time::from_secs(1_000)));
    let end = run_with(
        opener,
        cfg(),
        clock,
        stats.clone(),
        move |e| {
            ev.lock().unwrap().push(e);
            true
        },
        tokio::time::sleep(until),
    )
    .await;
    let events = std::mem::take(&mut *events.lock().unwrap());
    (events, stats.snapshot(), end)
}

fn kinds(events: &[SourceEvent]) -> String {
    let mut out = String::new();
    for e in events {
        out.push(match e {
            SourceEvent::Params(_) => 'P',
            SourceEvent::Packet(_) => '.',
            SourceEvent::Lost(_) => 'L',
        });
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_lost_session_reports_lost_and_comes_back_with_params() {
    let mut first = gop(3, 320);
    first.push(Step::Fail(RtspError::Protocol("connection reset".into())));
    let mut second = gop(2, 640);
    second.push(Step::Hang);
    let opener = Scripted::new(vec![Ok(first), Ok(second)]);
    let (events, stats, end) = run_for(&opener, Duration::from_secs(5)).await;
    assert_eq!(end, RunEnd::Shutdown);
    assert_eq!(kinds(&events), "P...LP..");
    let SourceEvent::Lost(why) = &events[4] else {
        panic!()
    };
    assert!(why.contains("connection reset"), "{why}");
    let SourceEvent::Params(p) = &events[5] else {
        panic!()
    };
    assert_eq!(p.video.width, 640);
    assert_eq!((stats.sessions, stats.reconnects), (2, 1));
    // The second open waited for the backoff (0.5–1 s after the first failure).
    let opens = opener.opens();
    let gap = opens[1] - opens[0];
    assert!(
        gap >= Duration::from_millis(500) + Duration::from_millis(99),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_camera_that_never_answers_is_retried_with_growing_delays() {
    let opener = Scripted::new(vec![]);
    let (events, stats, _) = run_for(&opener, Duration::from_secs(120)).await;
    assert!(
        events.is_empty(),
        "nothing to report: the stream was never up"
    );
    // Delays 0.5–1, 1–2, 2–4, 4–8, 8–16, 15–30, 15–30, ...: a handful in two minutes.
    let opens = opener.opens();
    assert!((6..=14).contains(&opens.len()), "{} attempts", opens.len());
    for w in opens.windows(3) {
        assert!(w[2] - w[1] >= Duration::from_millis(450), "no hot loop");
    }
    assert_eq!(stats.attempts as usize, opens.len());
    assert!(stats.last_error.unwrap().contains("connection refused"));
    assert!(stats.backoff_secs > 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_silent_session_is_declared_stalled() {
    let mut first = gop(2, 320);
    first.push(Step::Hang);
    let opener = Scripted::new(vec![Ok(first)]);
    let (events, stats, _) = run_for(&opener, Duration::from_secs(12)).await;
    assert_eq!(kinds(&events), "P..L");
    let SourceEvent::Lost(why) = &events[3] else {
        panic!()
    };
    assert!(why.contains("no frame for 10.0 s"), "{why}");
    assert_eq!(stats.sessions, 1);
}

#[tokio::test(start_paused = true)]
async fn no_keyframe_in_time_fails_the_session() {
    let mut steps = Vec::new();
    for i in 0..1000 {
        steps.push(Step::Wait(Duration::from_millis(33)));
        steps.push(Step::Frame(RawFrame::Video(RawVideo {
            npt: i * 3000,
            clock_rate: 90_000,
            random_access: false,
            params: Some(params(320)),
            loss: 0,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x41]),
        })));
    }
    let opener = Scripted::new(vec![Ok(steps)]);
    let (events, stats, _) = run_for(&opener, Duration::from_millis(20_400)).await;
    assert!(events.is_empty());
    let error = stats.last_error.unwrap_or_default();
    assert!(error.contains("waiting for a keyframe"), "{error}");
    assert!(stats.dropped_before_keyframe > 500);
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_loop_during_backoff_and_during_a_session() {
    let opener = Scripted::new(vec![]);
    let t0 = tokio::time::Instant::now();
    let (_, _, end) = run_for(&opener, Duration::from_millis(300)).await;
    assert_eq!(end, RunEnd::Shutdown);
    assert!(t0.elapsed() < Duration::from_millis(400));

    let opener = Scripted::new(vec![Ok(vec![Step::Hang])]);
    let (_, _, end) = run_for(&opener, Duration::from_millis(300)).await;
    assert_eq!(end, RunEnd::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_gone_receiver_ends_the_loop() {
    let opener = Scripted::new(vec![Ok(gop(3, 320))]);
    let stats = Arc::new(IngestStats::new());
    let end = run_with(
        &opener,
        cfg(),
        Arc::new(SimulatedClock::new(Time::ZERO)),
        stats,
        |_| false,
        futures::future::pending(),
    )
    .await;
    assert_eq!(end, RunEnd::ReceiverGone);
}

#[tokio::test(start_paused = true)]
async fn describe_reports_the_first_frames_parameters() {
    let opener = Scripted::new(vec![Ok(gop(1, 320))]);
    let s = describe_with(&opener, &cfg()).await.unwrap();
    assert_eq!(s.video, params(320));
    assert_eq!(s.audio, None);

    let opener = Scripted::new(vec![Err(RtspError::NotFound("/nope".into()))]);
    let e = describe_with(&opener, &cfg()).await.unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");
}

#[test]
fn credentials_come_from_the_config_or_the_url() {
    let mut c = RtspConfig::new("rtsp://admin:p%40ss@cam.local:554/live?x=1");
    let (url, creds) = c.target().unwrap();
    assert_eq!(url.as_str(), "rtsp://cam.local:554/live?x=1");
    assert_eq!(creds, Some(("admin".into(), "p@ss".into())));
    assert_eq!(c.redacted_url(), "rtsp://admin@cam.local:554/live?x=1");

    c.username = Some("viewer".into());
    c.password = Some("secret".into());
    assert_eq!(
        c.target().unwrap().1,
        Some(("viewer".into(), "secret".into()))
    );
    assert!(!format!("{c:?}").contains("secret"));
    assert!(!format!("{c:?}").contains("p%40ss"));

    let (_, creds) = RtspConfig::new("rtsp://cam/live").target().unwrap();
    assert_eq!(creds, None);
}

#[test]
fn bad_urls_are_refused_clearly() {
    for (url, want) in [
        ("http://cam/live", "scheme"),
        ("cam/live", "relative URL"),
        ("rtsp://", "no host"),
    ] {
        let e = RtspConfig::new(url).target().unwrap_err().to_string();
        assert!(e.contains(want), "{url}: {e}");
    }
}
