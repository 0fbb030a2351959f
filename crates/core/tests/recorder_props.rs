//! Random input sequences through a tiny model driver: a model pre-buffer (unbounded; holds
//! nothing until a video keyframe after a clear), clips as lists of packet ids. Checks that no
//! packet is lost or duplicated, clips start on keyframes, events' clips are contiguous, and the
//! states follow the diagram.

mod recorder_common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use recorder_common::{config, t};
use vigil_core::kind::EventKind;
use vigil_core::packet::{PacketMeta, TrackKind};
use vigil_core::recorder::{
    Action, CloseReason, DropWhy, Input, MotionSource, PacketRoute, Recorder, RecorderConfig, State,
};
use vigil_core::time::Time;

use State::*;

#[derive(Clone, Debug)]
enum Step {
    Advance(u64), // ms
    Video {
        key: bool,
    },
    Audio,
    Start(usize),
    End(usize),
    Pulse(usize, u64), // source, ms
    Tick,
    TickAtDeadline,
    StreamLost,
    StreamUp,
    Enable,
    Disable,
    ParamsChanged,
    Configure {
        post_roll: u64,
        max_clip: u64,
        timeout: u64,
    }, // s
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        20 => (0u64..2_000).prop_map(Step::Advance),
        2 => (2_000u64..200_000).prop_map(Step::Advance),
        30 => prop::bool::weighted(0.15).prop_map(|key| Step::Video { key }),
        10 => Just(Step::Audio),
        6 => (0usize..SOURCES.len()).prop_map(Step::Start),
        6 => (0usize..SOURCES.len()).prop_map(Step::End),
        3 => (0usize..SOURCES.len(), 0u64..20_000).prop_map(|(s, ms)| Step::Pulse(s, ms)),
        3 => Just(Step::Tick),
        6 => Just(Step::TickAtDeadline),
        2 => Just(Step::StreamLost),
        4 => Just(Step::StreamUp),
        3 => Just(Step::Enable),
        1 => Just(Step::Disable),
        2 => Just(Step::ParamsChanged),
        2 => (0u64..15, 1u64..20, 1u64..60).prop_map(|(post_roll, max_clip, timeout)| {
            Step::Configure { post_roll, max_clip, timeout }
        }),
    ]
}

/// Where from and what: two kinds of one source are as independent as two sources.
const SOURCES: [(MotionSource, EventKind); 3] = [
    (MotionSource::Onvif, EventKind::Motion),
    (MotionSource::Api, EventKind::Motion),
    (MotionSource::Onvif, EventKind::Person),
];

#[derive(Copy, Clone, Debug, PartialEq)]
enum Fate {
    Pending,
    Buffered,
    Refused,
    Cleared,
    DroppedIdle,
    DroppedAwaiting,
    Written(usize),
}

#[derive(Debug)]
struct Clip {
    event: u64,
    packets: Vec<usize>,
    closed: Option<CloseReason>,
}

struct Model {
    rec: Recorder,
    config: RecorderConfig,
    now: Time,
    packets: Vec<(PacketMeta, Fate)>,
    buffer: Vec<usize>,
    clips: Vec<Clip>,
    open: Option<usize>,
    state: State,
    events: u64,
    overlaps: u64,
    /// The keyframe a post-roll close handed to the buffer: the next flush must start with it.
    handoff: Option<usize>,
    /// After `ParamsChanged` the next video packet is a keyframe (as the camera would send).
    force_key: bool,
    /// Which paths this run took (open/close reasons, fates, handoffs), for the coverage test.
    seen: BTreeMap<String, u32>,
}

fn legal(from: State, to: State) -> bool {
    matches!(
        (from, to),
        (Idle, Buffering)
            | (Buffering, Recording)
            | (Recording, Finalizing)
            | (Finalizing, Recording)
            | (Finalizing, Buffering)
            | (Buffering | Recording | Finalizing, Idle)
    )
}

impl Model {
    fn new() -> Self {
        Model {
            rec: Recorder::new(config()),
            config: config(),
            now: t(0.0),
            packets: Vec::new(),
            buffer: Vec::new(),
            clips: Vec::new(),
            open: None,
            state: Idle,
            events: 0,
            overlaps: 0,
            handoff: None,
            force_key: false,
            seen: BTreeMap::new(),
        }
    }

    fn saw(&mut self, what: impl std::fmt::Debug) {
        *self.seen.entry(format!("{what:?}")).or_default() += 1;
    }

    fn is_key(&self, id: usize) -> bool {
        let m = self.packets[id].0;
        m.track == TrackKind::Video && m.keyframe
    }

    fn packet(&mut self, track: TrackKind, keyframe: bool) {
        let meta = PacketMeta {
            track,
            time: self.now,
            keyframe,
        };
        self.packets.push((meta, Fate::Pending));
        self.feed(Input::Packet(meta));
    }

    fn run(&mut self, step: Step) {
        match step {
            Step::Advance(ms) => self.now = self.now.plus_micros(ms as i64 * 1000),
            Step::Video { key } => {
                let key = key || std::mem::take(&mut self.force_key);
                self.packet(TrackKind::Video, key);
            }
            Step::Audio => self.packet(TrackKind::Audio, true),
            Step::Start(s) => self.feed(Input::MotionStart {
                source: SOURCES[s].0,
                kind: SOURCES[s].1,
                until: None,
            }),
            Step::End(s) => self.feed(Input::MotionEnd {
                source: SOURCES[s].0,
                kind: SOURCES[s].1,
            }),
            Step::Pulse(s, ms) => self.feed(Input::MotionStart {
                source: SOURCES[s].0,
                kind: SOURCES[s].1,
                until: Some(self.now.plus_micros(ms as i64 * 1000)),
            }),
            Step::Tick => self.feed(Input::Tick),
            Step::TickAtDeadline => {
                if let Some(d) = self.rec.next_deadline() {
                    self.now = self.now.max(d);
                }
                self.feed(Input::Tick);
            }
            Step::StreamLost => self.feed(Input::StreamLost),
            Step::StreamUp => self.feed(Input::StreamUp),
            Step::Enable | Step::Disable => {
                self.config.enabled = matches!(step, Step::Enable);
                self.feed(Input::Configure(self.config.clone()));
            }
            Step::ParamsChanged => {
                self.force_key = true;
                self.feed(Input::ParamsChanged);
            }
            Step::Configure {
                post_roll,
                max_clip,
                timeout,
            } => {
                self.config.post_roll = std::time::Duration::from_secs(post_roll);
                self.config.max_clip = std::time::Duration::from_secs(max_clip);
                self.config.motion_timeout = std::time::Duration::from_secs(timeout);
                self.feed(Input::Configure(self.config.clone()));
            }
        }
    }

    fn feed(&mut self, input: Input) {
        let packet = matches!(input, Input::Packet(_)).then(|| self.packets.len() - 1);
        let flush_answer = matches!(input, Input::Flushed { .. });
        // Would time alone (a Tick now) close the clip? Otherwise only a keyframe may close it.
        let post_roll_close = Action::CloseClip {
            reason: CloseReason::PostRollExpired,
        };
        let tick_closes = packet.is_some() && {
            let mut probe = self.rec.clone();
            probe
                .handle(Input::Tick, self.now)
                .contains(&post_roll_close)
        };
        let out = self.rec.handle(input.clone(), self.now);
        if let Some(id) = packet {
            if out.contains(&post_roll_close) && !tick_closes {
                assert!(
                    self.is_key(id),
                    "post-roll close on a non-keyframe: {out:?}"
                );
            }
        }
        let routes = out.iter().filter(|a| matches!(a, Action::Route(_))).count();
        assert_eq!(routes, usize::from(packet.is_some()), "{input:?} → {out:?}");
        if packet.is_some() {
            assert!(matches!(out.last(), Some(Action::Route(_))), "{out:?}");
        }
        if flush_answer {
            assert!(out.is_empty(), "Flushed had actions: {out:?}");
        }
        let mut flushed = None;
        for a in out {
            self.apply(a, packet, &mut flushed);
        }
        self.check();
        // No timer is left due: a Tick at next_deadline() always makes progress.
        if let Some(d) = self.rec.next_deadline() {
            assert!(d > self.now, "deadline {d:?} not after now {:?}", self.now);
        }
        if let Some(answer) = flushed {
            self.feed(answer);
        }
    }

    fn write(&mut self, id: usize, clip: usize) {
        assert!(
            matches!(self.packets[id].1, Fate::Pending | Fate::Buffered),
            "packet {id} written twice: {:?}",
            self.packets[id].1
        );
        let first = self.clips[clip].packets.is_empty();
        assert!(
            !first || self.is_key(id),
            "clip {clip} starts with a non-keyframe"
        );
        if let Some(&last) = self.clips[clip].packets.last() {
            assert!(last < id, "out of order in clip {clip}");
        }
        self.clips[clip].packets.push(id);
        self.packets[id].1 = Fate::Written(clip);
    }

    fn apply(&mut self, a: Action, packet: Option<usize>, flushed: &mut Option<Input>) {
        match a {
            Action::StateChanged { from, to } => {
                assert_eq!(from, self.state);
                assert!(legal(from, to), "illegal {from} → {to}");
                self.state = to;
            }
            Action::MotionEventStarted { event, .. } => {
                assert_eq!(event, self.events + 1);
                self.events = event;
            }
            Action::MotionOverlap { event, .. } => {
                let c = self.open.expect("overlap with no clip open");
                assert_eq!(self.clips[c].event, event);
                self.overlaps += 1;
            }
            Action::MotionEventEnded { event, .. } => assert!((1..=self.events).contains(&event)),
            Action::OpenClip { event, reason } => {
                self.saw(reason);
                assert!(self.open.is_none(), "two clips open");
                assert!((1..=self.events).contains(&event));
                self.clips.push(Clip {
                    event,
                    packets: Vec::new(),
                    closed: None,
                });
                self.open = Some(self.clips.len() - 1);
            }
            Action::FlushPreBuffer => {
                let c = self.open.expect("flush with no clip open");
                assert!(self.clips[c].packets.is_empty());
                if let Some(k) = self.handoff.take() {
                    self.saw("handoff");
                    assert_eq!(self.buffer.first(), Some(&k), "pre-roll lost its handoff");
                }
                let first = self.buffer.first().map(|&id| self.packets[id].0.time);
                let held = std::mem::take(&mut self.buffer);
                for &id in &held {
                    self.write(id, c);
                }
                *flushed = Some(Input::Flushed {
                    first,
                    packets: held.len(),
                });
            }
            Action::CloseClip { reason } => {
                let c = self.open.take().expect("close with no clip open");
                self.saw(reason);
                self.clips[c].closed = Some(reason);
                if reason == CloseReason::PostRollExpired {
                    // Closed on a keyframe (not by the grace on some other packet): it is handed on.
                    self.handoff = packet.filter(|&id| self.is_key(id));
                }
            }
            Action::ClearBuffer => {
                self.handoff = None;
                for id in std::mem::take(&mut self.buffer) {
                    self.packets[id].1 = Fate::Cleared;
                }
            }
            Action::Route(route) => {
                let id = packet.expect("route for a non-packet input");
                match route {
                    PacketRoute::Write => {
                        assert!(matches!(self.state, Recording | Finalizing));
                        let c = self.open.expect("write with no clip open");
                        self.write(id, c);
                    }
                    PacketRoute::Buffer => {
                        assert_eq!(self.state, Buffering, "buffered outside BUFFERING");
                        if self.buffer.is_empty() && !self.is_key(id) {
                            self.packets[id].1 = Fate::Refused;
                        } else {
                            self.buffer.push(id);
                            self.packets[id].1 = Fate::Buffered;
                        }
                    }
                    PacketRoute::Drop(DropWhy::Idle) => {
                        assert_eq!(self.state, Idle);
                        self.packets[id].1 = Fate::DroppedIdle;
                    }
                    PacketRoute::Drop(DropWhy::AwaitingKeyframe) => {
                        let c = self.open.expect("awaiting keyframe with no clip open");
                        assert!(self.clips[c].packets.is_empty());
                        assert!(!self.is_key(id), "a keyframe dropped while awaiting one");
                        self.packets[id].1 = Fate::DroppedAwaiting;
                    }
                }
            }
        }
    }

    fn check(&self) {
        assert_eq!(
            self.rec.state(),
            self.state,
            "state() disagrees with StateChanged"
        );
        assert_eq!(
            self.open.is_some(),
            matches!(self.state, Recording | Finalizing)
        );
        if self.state == Idle {
            assert!(self.buffer.is_empty(), "IDLE holds a buffer");
        }
        let s = self.rec.stats();
        assert_eq!(s.clip_open, self.open.is_some());
        assert_eq!(s.clips_recorded, self.clips.len() as u64);
        assert_eq!(s.motion_events, self.events);
        assert_eq!(s.overlapping_events, self.overlaps);
        if let Some(c) = self.open {
            assert_eq!(s.current_event, Some(self.clips[c].event));
        }
        match self.state {
            Buffering | Finalizing => assert!(!s.motion_active, "{:?} {s:?}", self.state),
            Recording => assert!(s.motion_active),
            Idle => {}
        }
    }

    fn check_end(&mut self) {
        let fates: Vec<Fate> = self.packets.iter().map(|p| p.1).collect();
        for fate in fates {
            self.saw(match fate {
                Fate::Written(_) => Fate::Written(0),
                other => other,
            });
        }
        for (id, (_, fate)) in self.packets.iter().enumerate() {
            assert_ne!(*fate, Fate::Pending, "packet {id} has no fate");
            assert_eq!(*fate == Fate::Buffered, self.buffer.contains(&id));
        }
        // Within one event, every packet between its first and last written one is in one of
        // its clips, or was dropped for a stated reason (IDLE gap, clip awaiting a keyframe).
        for event in 1..=self.events {
            let written: Vec<usize> = self
                .clips
                .iter()
                .filter(|c| c.event == event)
                .flat_map(|c| c.packets.iter().copied())
                .collect();
            let (Some(&lo), Some(&hi)) = (written.iter().min(), written.iter().max()) else {
                continue;
            };
            for id in lo..=hi {
                match self.packets[id].1 {
                    Fate::Written(c) => assert_eq!(self.clips[c].event, event),
                    Fate::DroppedIdle | Fate::DroppedAwaiting => {}
                    other => panic!("event {event}: packet {id} lost ({other:?})"),
                }
            }
        }
    }
}

fn steps() -> impl Strategy<Value = (Vec<Step>, bool)> {
    (prop::collection::vec(step(), 1..400), any::<bool>())
}

/// Runs one sequence through the model, checking as it goes; `shutdown` ends it with a Shutdown.
fn run(steps: Vec<Step>, shutdown: bool) -> Model {
    let mut m = Model::new();
    m.feed(Input::StreamUp);
    for s in steps {
        m.run(s);
    }
    if shutdown {
        m.feed(Input::Shutdown);
        assert_eq!(m.state, Idle);
        assert!(m.open.is_none());
        m.run(Step::Video { key: true });
        m.run(Step::Start(0));
        assert_eq!(m.rec.next_deadline(), None);
    }
    m.check_end();
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn recorder_never_loses_or_duplicates_a_packet((steps, shutdown) in steps()) {
        run(steps, shutdown);
    }
}

/// The generator reaches every path the properties are about (so they are not vacuously true).
#[test]
fn random_runs_cover_every_path() {
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..200 {
        let (steps, shutdown) = steps().new_tree(&mut runner).unwrap().current();
        for (k, n) in run(steps, shutdown).seen {
            *seen.entry(k).or_default() += n;
        }
    }
    let wanted = [
        "Motion",
        "Rollover",
        "ParamsChanged",
        "Reconnected",
        "Enabled",
        "PostRollExpired",
        "StreamLost",
        "Disabled",
        "Shutdown",
        "\"handoff\"",
        "Written(0)",
        "Buffered",
        "Refused",
        "Cleared",
        "DroppedIdle",
        "DroppedAwaiting",
    ];
    for w in wanted {
        assert!(
            seen.get(w).copied().unwrap_or(0) > 0,
            "never saw {w}: {seen:?}"
        );
    }
}

/// The model itself: a hand-written run through every path, so a broken model can't pass silently.
#[test]
fn model_sees_a_full_cycle() {
    let mut m = Model::new();
    m.feed(Input::StreamUp);
    for s in [
        Step::Video { key: true },
        Step::Advance(500),
        Step::Video { key: false },
        Step::Start(0),
        Step::Advance(500),
        Step::Video { key: false },
        Step::End(0),
        Step::Advance(11_000),
        Step::Video { key: false },
        Step::Video { key: true },
        Step::Video { key: false },
    ] {
        m.run(s);
    }
    assert_eq!(m.clips.len(), 1);
    assert_eq!(m.clips[0].packets, vec![0, 1, 2, 3]);
    assert_eq!(m.clips[0].closed, Some(CloseReason::PostRollExpired));
    assert_eq!(m.buffer, vec![4, 5]);
    m.run(Step::Start(1));
    assert_eq!(m.clips[1].packets, vec![4, 5]);
    assert_eq!(m.clips[1].event, 2);
    m.check_end();
}
