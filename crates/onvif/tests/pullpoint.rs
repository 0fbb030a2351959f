//! The PullPoint state machine with simulated time: no sockets, no sleeps. Each test plays a
//! camera by answering the machine's requests with canned SOAP and moving time by hand.

use std::time::{Duration, Instant};

use vigil_core::backoff::delay as backoff_delay;
use vigil_core::time::Time;
use vigil_onvif::ops::Op;
use vigil_onvif::pullpoint::{HttpReply, Input, Now, Output, PullPoint, PullPointConfig, Request};
use vigil_onvif::time::{format_datetime_secs, parse_datetime};
use vigil_onvif::{Error, MotionEvent, SubscriptionState};

const ENV: &str = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa5="http://www.w3.org/2005/08/addressing" xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body>"#;
const END: &str = "</env:Body></env:Envelope>";

fn wrap(body: &str) -> String {
    format!("{ENV}{body}{END}")
}

fn gsdt(t: Time) -> String {
    let s = format_datetime_secs(t);
    let (y, mo, d, h, mi, se) = (
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19],
    );
    wrap(&format!("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time><tt:Hour>{h}</tt:Hour><tt:Minute>{mi}</tt:Minute><tt:Second>{se}</tt:Second></tt:Time><tt:Date><tt:Year>{y}</tt:Year><tt:Month>{mo}</tt:Month><tt:Day>{d}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"))
}

fn caps() -> String {
    wrap("<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>http://cam/onvif/event_service</tt:XAddr></tt:Events><tt:Media><tt:XAddr>http://cam/onvif/media_service</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>")
}

fn create(addr: &str, cur: Time, lifetime_s: i64, ref_params: &str) -> String {
    wrap(&format!(
        "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa5:Address>{addr}</wsa5:Address>{ref_params}</tev:SubscriptionReference><wsnt:CurrentTime>{}</wsnt:CurrentTime><wsnt:TerminationTime>{}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>",
        format_datetime_secs(cur),
        format_datetime_secs(Time::from_secs(cur.0 / 1_000_000 + lifetime_s))
    ))
}

fn pull_reply(cur: Time, lifetime_s: i64, messages: &str) -> String {
    wrap(&format!(
        "<tev:PullMessagesResponse><tev:CurrentTime>{}</tev:CurrentTime><tev:TerminationTime>{}</tev:TerminationTime>{messages}</tev:PullMessagesResponse>",
        format_datetime_secs(cur),
        format_datetime_secs(Time::from_secs(cur.0 / 1_000_000 + lifetime_s))
    ))
}

fn renew_reply(cur: Time, lifetime_s: i64) -> String {
    wrap(&format!(
        "<wsnt:RenewResponse><wsnt:TerminationTime>{}</wsnt:TerminationTime><wsnt:CurrentTime>{}</wsnt:CurrentTime></wsnt:RenewResponse>",
        format_datetime_secs(Time::from_secs(cur.0 / 1_000_000 + lifetime_s)),
        format_datetime_secs(cur)
    ))
}

fn fault(subcode: &str) -> String {
    wrap(&format!("<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>{subcode}</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">no</env:Text></env:Reason></env:Fault>"))
}

fn msg(topic: &str, op: &str, item: &str, value: &str, source: &str) -> String {
    format!("<wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">{topic}</wsnt:Topic><wsnt:Message><tt:Message UtcTime=\"2000-01-02T08:13:22Z\" PropertyOperation=\"{op}\"><tt:Source><tt:SimpleItem Name=\"Source\" Value=\"{source}\"/></tt:Source><tt:Data><tt:SimpleItem Name=\"{item}\" Value=\"{value}\"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>")
}

/// The camera's clock reads 2000 while ours reads 2026: lifetimes must come from the camera's
/// own CurrentTime/TerminationTime, never from comparing with the local clock.
fn cam_time() -> Time {
    parse_datetime("2000-01-02T08:13:22Z").unwrap()
}

struct Sim {
    sm: PullPoint,
    t0: Instant,
    mono: Instant,
    wall: Time,
    motion: Vec<MotionEvent>,
}

impl Sim {
    fn new(cfg: PullPointConfig) -> Sim {
        let t0 = Instant::now();
        let wall = parse_datetime("2026-11-24T12:00:00Z").unwrap();
        let sm = PullPoint::new(cfg, Now { mono: t0, wall });
        Sim {
            sm,
            t0,
            mono: t0,
            wall,
            motion: Vec::new(),
        }
    }

    fn cfg() -> PullPointConfig {
        PullPointConfig::new("http://cam/onvif/device_service", "admin", "secret")
    }

    fn now(&self) -> Now {
        Now {
            mono: self.mono,
            wall: self.wall,
        }
    }

    fn elapsed(&self) -> Duration {
        self.mono - self.t0
    }

    fn advance(&mut self, d: Duration) {
        self.mono += d;
        self.wall = self.wall.plus(d);
    }

    /// The next request, moving time to each timeout on the way (collects motion events).
    fn next_request(&mut self) -> Request {
        for _ in 0..10_000 {
            match self.sm.poll_output() {
                Output::Transmit(r) => return r,
                Output::Motion(m) => self.motion.push(m),
                Output::Timeout(at) => {
                    if at > self.mono {
                        let d = at - self.mono;
                        self.advance(d);
                    }
                    self.sm.handle_timeout(self.now());
                }
                Output::Stopped => panic!("stopped"),
            }
        }
        panic!("no request");
    }

    fn reply(&mut self, req: &Request, status: u16, body: String) {
        let input = Input::Reply {
            id: req.id,
            result: Ok(HttpReply { status, body }),
        };
        self.sm.handle_input(input, self.now());
    }

    fn fail(&mut self, req: &Request, e: Error) {
        self.sm.handle_input(
            Input::Reply {
                id: req.id,
                result: Err(e),
            },
            self.now(),
        );
    }

    fn expect(&mut self, op: Op) -> Request {
        let r = self.next_request();
        assert_eq!(r.op, op, "at {:?}", self.elapsed());
        r
    }

    /// Connects and subscribes with `lifetime_s` granted; returns the Create request.
    fn subscribe(&mut self, lifetime_s: i64, ref_params: &str) -> Request {
        let r = self.expect(Op::GetSystemDateAndTime);
        self.reply(&r, 200, gsdt(cam_time()));
        let r = self.expect(Op::GetCapabilities);
        self.reply(&r, 200, caps());
        let r = self.expect(Op::CreatePullPointSubscription);
        assert_eq!(r.url, "http://cam/onvif/event_service");
        let cur = cam_time().plus(self.elapsed());
        self.reply(
            &r,
            200,
            create("http://cam/onvif/sub?Idx=1", cur, lifetime_s, ref_params),
        );
        r
    }

    fn camera_now(&self) -> Time {
        cam_time().plus(self.elapsed())
    }

    /// Answers a PullMessages as a long poll that times out (moves time by its Timeout).
    fn long_poll_empty(&mut self, r: &Request, lifetime_s: i64) {
        let secs: u64 = r
            .body
            .split("<tev:Timeout>PT")
            .nth(1)
            .unwrap()
            .split('S')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        self.advance(Duration::from_secs(secs));
        let cur = self.camera_now();
        self.reply(r, 200, pull_reply(cur, lifetime_s, ""));
    }
}

#[test]
fn renews_before_termination_by_device_time() {
    let mut s = Sim::new(Sim::cfg());
    s.subscribe(60, "");
    assert_eq!(s.sm.health().state, SubscriptionState::Subscribed);
    let mut renew_at = None;
    while renew_at.is_none() {
        let r = s.next_request();
        match r.op {
            Op::PullMessages => {
                assert!(s.elapsed() < Duration::from_secs(60));
                s.long_poll_empty(&r, 60);
            }
            Op::Renew => {
                renew_at = Some(s.elapsed());
                let cur = s.camera_now();
                s.reply(&r, 200, renew_reply(cur, 60));
            }
            op => panic!("{op:?}"),
        }
    }
    // Granted 60 s by the camera's clock (which reads year 2000): renewed 10 s before the end,
    // neither at once (as a comparison with the local 2026 clock would do) nor too late.
    let at = renew_at.unwrap();
    assert!(
        at >= Duration::from_secs(49) && at <= Duration::from_secs(51),
        "{at:?}"
    );
    assert_eq!(s.sm.health().renewals, 1);
    // The next renewal is again ~50 s later.
    loop {
        let r = s.next_request();
        if r.op == Op::Renew {
            let second = s.elapsed() - at;
            assert!(
                second >= Duration::from_secs(49) && second <= Duration::from_secs(51),
                "{second:?}"
            );
            break;
        }
        s.long_poll_empty(&r, 60);
    }
}

#[test]
fn short_lifetime_renews_at_half_and_pulls_fit_before_it() {
    let mut s = Sim::new(Sim::cfg());
    s.subscribe(3, "");
    let mut renewals = Vec::new();
    while renewals.len() < 3 {
        let r = s.next_request();
        match r.op {
            Op::PullMessages => {
                assert!(
                    r.body.contains("<tev:Timeout>PT1S</tev:Timeout>"),
                    "clamped to renewal"
                );
                s.long_poll_empty(&r, 3);
            }
            Op::Renew => {
                renewals.push(s.elapsed());
                let cur = s.camera_now();
                s.reply(&r, 200, renew_reply(cur, 3));
            }
            op => panic!("{op:?}"),
        }
    }
    // Every renewal lands before the 3 s lifetime since the previous grant ran out.
    let mut last = Duration::ZERO;
    for at in renewals {
        assert!(at - last < Duration::from_secs(3), "{at:?} after {last:?}");
        last = at;
    }
}

#[test]
fn ws_security_created_uses_camera_clock() {
    let mut s = Sim::new(Sim::cfg());
    let r = s.expect(Op::GetSystemDateAndTime);
    assert!(
        !r.body.contains("wsse:Security"),
        "the clock is asked without credentials"
    );
    s.advance(Duration::from_millis(300));
    s.reply(&r, 200, gsdt(cam_time()));
    let r = s.expect(Op::GetCapabilities);
    assert!(
        r.body.contains("<wsu:Created>2000-01-02T08:13:22"),
        "{}",
        r.body
    );
    assert_eq!(s.sm.health().clock_offset_ms.map(|o| o < 0), Some(true));
}

/// Delays between connection attempts against a camera that refuses every connection.
fn refused_delays(seed: u64, attempts: usize) -> (Vec<Duration>, Sim) {
    let mut cfg = Sim::cfg();
    cfg.backoff_base = Duration::from_secs(1);
    cfg.backoff_cap = Duration::from_secs(30);
    cfg.seed = seed;
    let mut s = Sim::new(cfg);
    let mut at = Vec::new();
    for _ in 0..attempts {
        let r = s.expect(Op::GetSystemDateAndTime);
        at.push(s.elapsed());
        s.fail(&r, Error::Connect("refused".into()));
        assert_eq!(s.sm.health().state, SubscriptionState::Backoff);
    }
    (at.windows(2).map(|w| w[1] - w[0]).collect(), s)
}

#[test]
fn backoff_grows_is_capped_and_jittered() {
    let (delays, s) = refused_delays(7, 12);
    for (n, d) in delays.iter().enumerate() {
        let full = Duration::from_secs(1 << n).min(Duration::from_secs(30));
        assert!(
            *d >= full / 2 && *d <= full,
            "attempt {n}: {d:?} not in [{:?}, {full:?}]",
            full / 2
        );
        assert!(s.sm.health().backoff_ms.is_some());
    }
    assert!(
        delays[5..].iter().all(|d| *d <= Duration::from_secs(30)),
        "capped"
    );
    assert!(
        delays[6..].iter().any(|d| *d > Duration::from_secs(15)),
        "reaches the cap's range"
    );
    let ratios: Vec<f64> = delays[..5]
        .iter()
        .enumerate()
        .map(|(n, d)| d.as_secs_f64() / (1 << n) as f64)
        .collect();
    assert!(
        ratios.windows(2).any(|w| (w[0] - w[1]).abs() > 0.01),
        "jittered: {ratios:?}"
    );
    assert_eq!(s.sm.health().errors, 12);
    assert_eq!(s.sm.health().consecutive_failures, 12);
    // Deterministic for a seed, different across seeds.
    assert_eq!(refused_delays(7, 8).0, refused_delays(7, 8).0);
    assert_ne!(refused_delays(7, 8).0, refused_delays(8, 8).0);
    // The formula's bounds directly.
    let b = Duration::from_secs(2);
    assert_eq!(
        backoff_delay(b, Duration::from_secs(60), 3, 0),
        Duration::from_secs(8)
    );
    assert_eq!(
        backoff_delay(b, Duration::from_secs(60), 3, u64::MAX).as_millis(),
        16_000
    );
    assert_eq!(
        backoff_delay(b, Duration::from_secs(60), 40, u64::MAX),
        Duration::from_secs(60)
    );
}

#[test]
fn immediate_empty_answers_get_a_minimum_poll_interval() {
    let mut s = Sim::new(Sim::cfg());
    s.subscribe(3600, "");
    let start = s.elapsed();
    let mut pulls = 0;
    while s.elapsed() - start < Duration::from_secs(10) {
        let r = s.next_request();
        assert_eq!(r.op, Op::PullMessages);
        pulls += 1;
        let cur = s.camera_now();
        s.reply(&r, 200, pull_reply(cur, 3600, "")); // at once, ignoring Timeout
    }
    assert!((9..=11).contains(&pulls), "{pulls} pulls in 10 s");
    assert_eq!(s.sm.health().pulls, pulls);
}

#[test]
fn messages_are_pulled_again_at_once() {
    let mut s = Sim::new(Sim::cfg());
    s.subscribe(3600, "");
    let r = s.expect(Op::PullMessages);
    let cur = s.camera_now();
    let m = msg(
        "tns1:VideoSource/MotionAlarm",
        "Changed",
        "State",
        "true",
        "VideoSource_1",
    );
    s.reply(&r, 200, pull_reply(cur, 3600, &m));
    let before = s.elapsed();
    s.expect(Op::PullMessages);
    assert_eq!(s.elapsed(), before, "no wait after a reply with messages");
}

#[test]
fn resubscribes_after_resource_unknown() {
    let mut s = Sim::new(Sim::cfg());
    s.subscribe(60, "");
    let r = s.expect(Op::PullMessages);
    s.reply(&r, 400, fault("ter:ResourceUnknown"));
    let h = s.sm.health().clone();
    assert_eq!(h.state, SubscriptionState::Backoff);
    assert!(
        h.last_error
            .as_deref()
            .unwrap_or("")
            .contains("ResourceUnknown"),
        "{h:?}"
    );
    let failed_at = s.elapsed();
    s.subscribe(60, "");
    assert!(
        s.elapsed() - failed_at <= Duration::from_secs(1),
        "first retry is quick"
    );
    assert_eq!(s.sm.health().subscriptions, 2);
    assert_eq!(s.sm.health().state, SubscriptionState::Subscribed);
}

#[test]
fn wrong_password_is_reported_and_backed_off() {
    let mut s = Sim::new(Sim::cfg());
    let mut times = Vec::new();
    for _ in 0..5 {
        let r = s.expect(Op::GetSystemDateAndTime);
        s.reply(&r, 200, gsdt(cam_time()));
        let r = s.expect(Op::GetCapabilities);
        times.push(s.elapsed());
        s.reply(&r, 400, fault("ter:NotAuthorized"));
    }
    let h = s.sm.health();
    assert!(
        h.last_error
            .as_deref()
            .unwrap()
            .starts_with("NotAuthorized: wrong username or password"),
        "{h:?}"
    );
    assert_eq!(h.errors, 5);
    assert!(
        times[4] >= Duration::from_secs(7),
        "backoff between attempts: {times:?}"
    );
}

#[test]
fn capabilities_fault_falls_back_to_get_services() {
    let mut s = Sim::new(Sim::cfg());
    let r = s.expect(Op::GetSystemDateAndTime);
    s.reply(&r, 200, gsdt(cam_time()));
    let r = s.expect(Op::GetCapabilities);
    s.reply(&r, 500, fault("ter:ActionNotSupported"));
    let r = s.expect(Op::GetServices);
    s.reply(&r, 200, wrap("<tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver10/events/wsdl</tds:Namespace><tds:XAddr>http://cam:8000/onvif/events</tds:XAddr></tds:Service></tds:GetServicesResponse>"));
    let r = s.expect(Op::CreatePullPointSubscription);
    assert_eq!(r.url, "http://cam:8000/onvif/events");
}

#[test]
fn a_request_without_reply_times_out() {
    let mut s = Sim::new(Sim::cfg());
    s.subscribe(3600, "");
    let r = s.expect(Op::PullMessages);
    // Never answered: the machine gives up at the deadline and starts over.
    let next = s.next_request();
    assert_eq!(next.op, Op::GetSystemDateAndTime);
    assert!(s.elapsed() >= r.deadline - s.t0);
    assert!(s
        .sm
        .health()
        .last_error
        .as_deref()
        .unwrap()
        .starts_with("no reply within"));
}

#[test]
fn reference_parameters_echoed_and_unsubscribe_on_shutdown() {
    let mut s = Sim::new(Sim::cfg());
    let rp = r#"<wsa5:ReferenceParameters><dom0:SubscriptionId xmlns:dom0="http://www.axis.com/2009/event">5</dom0:SubscriptionId></wsa5:ReferenceParameters>"#;
    s.subscribe(60, rp);
    let r = s.expect(Op::PullMessages);
    assert_eq!(r.url, "http://cam/onvif/sub?Idx=1");
    let echoed = "<dom0:SubscriptionId xmlns:dom0=\"http://www.axis.com/2009/event\"";
    assert!(r.body.contains(echoed), "{}", r.body);
    // Shutdown while the long poll is out: the poll is abandoned, Unsubscribe goes out.
    s.sm.handle_input(Input::Shutdown, s.now());
    let u = s.expect(Op::Unsubscribe);
    assert_eq!(u.url, "http://cam/onvif/sub?Idx=1");
    assert!(u.body.contains(echoed));
    assert!(u.body.contains("<wsnt:Unsubscribe"));
    // A late reply to the abandoned poll is ignored.
    s.reply(&r, 200, pull_reply(cam_time(), 60, ""));
    s.reply(&u, 200, wrap("<wsnt:UnsubscribeResponse/>"));
    assert_eq!(s.sm.poll_output(), Output::Stopped);
    assert_eq!(s.sm.health().state, SubscriptionState::Stopped);
}

#[test]
fn shutdown_without_subscription_stops_at_once() {
    let mut s = Sim::new(Sim::cfg());
    let r = s.expect(Op::GetSystemDateAndTime);
    s.fail(&r, Error::Connect("refused".into()));
    s.sm.handle_input(Input::Shutdown, s.now());
    assert_eq!(s.sm.poll_output(), Output::Stopped);
}

/// Connects up to a CreatePullPointSubscription that is out, unanswered; returns it.
fn creating(s: &mut Sim) -> Request {
    let r = s.expect(Op::GetSystemDateAndTime);
    s.reply(&r, 200, gsdt(cam_time()));
    let r = s.expect(Op::GetCapabilities);
    s.reply(&r, 200, caps());
    s.expect(Op::CreatePullPointSubscription)
}

#[test]
fn shutdown_while_subscribing_unsubscribes_what_the_camera_made() {
    // The camera may have made the subscription before the shutdown came: its reply is awaited
    // and the subscription undone, not left to hold one of the camera's slots until it expires.
    let mut s = Sim::new(Sim::cfg());
    let c = creating(&mut s);
    s.sm.handle_input(Input::Shutdown, s.now());
    match s.sm.poll_output() {
        Output::Timeout(at) => assert!(at - s.mono <= Duration::from_secs(5)),
        o => panic!("waits for the creation's reply: {o:?}"),
    }
    s.advance(Duration::from_millis(300));
    let cur = s.camera_now();
    s.reply(&c, 200, create("http://cam/onvif/sub?Idx=7", cur, 60, ""));
    let u = s.expect(Op::Unsubscribe);
    assert_eq!(u.url, "http://cam/onvif/sub?Idx=7");
    s.reply(&u, 200, wrap("<wsnt:UnsubscribeResponse/>"));
    assert_eq!(s.sm.poll_output(), Output::Stopped);
    assert_eq!(s.sm.health().state, SubscriptionState::Stopped);
    assert_eq!(
        s.sm.health().subscriptions,
        0,
        "never counted as subscribed"
    );
}

#[test]
fn shutdown_while_subscribing_stops_when_the_creation_fails_or_never_answers() {
    let mut s = Sim::new(Sim::cfg());
    let c = creating(&mut s);
    s.sm.handle_input(Input::Shutdown, s.now());
    s.reply(&c, 400, fault("ter:InvalidArgVal"));
    assert_eq!(s.sm.poll_output(), Output::Stopped);

    let mut s = Sim::new(Sim::cfg());
    creating(&mut s);
    let shut_at = s.mono;
    s.sm.handle_input(Input::Shutdown, s.now());
    match s.sm.poll_output() {
        Output::Timeout(at) => {
            assert!(at - shut_at <= Duration::from_secs(5));
            s.mono = at;
            s.sm.handle_timeout(s.now());
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(s.sm.poll_output(), Output::Stopped);
}

#[test]
fn unanswered_unsubscribe_still_stops() {
    let mut s = Sim::new(Sim::cfg());
    s.subscribe(60, "");
    s.expect(Op::PullMessages);
    s.sm.handle_input(Input::Shutdown, s.now());
    s.expect(Op::Unsubscribe);
    match s.sm.poll_output() {
        Output::Timeout(at) => {
            assert!(at - s.mono <= Duration::from_secs(5));
            s.mono = at;
            s.sm.handle_timeout(s.now());
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(s.sm.poll_output(), Output::Stopped);
}

#[test]
fn motion_initialized_sync_and_camera_motion_is_an_or() {
    let mut s = Sim::new(Sim::cfg());
    s.subscribe(3600, "");
    let r = s.expect(Op::PullMessages);
    let cur = s.camera_now();
    let burst = [
        msg(
            "tns1:VideoSource/MotionAlarm",
            "Initialized",
            "State",
            "false",
            "VideoSource_1",
        ),
        msg(
            "tns1:RuleEngine/CellMotionDetector/Motion",
            "Initialized",
            "IsMotion",
            "false",
            "VideoSource_1",
        ),
        msg(
            "tns1:Monitoring/ProcessorUsage",
            "Initialized",
            "Value",
            "1",
            "cpu",
        ),
    ]
    .concat();
    s.reply(&r, 200, pull_reply(cur, 3600, &burst));
    let r = s.expect(Op::PullMessages);
    assert_eq!(s.motion.len(), 2, "ProcessorUsage is not motion");
    assert!(s
        .motion
        .iter()
        .all(|m| m.initialized && !m.on && !m.camera_motion));
    s.motion.clear();
    let cur = s.camera_now();
    let changes = [
        msg(
            "tns1:VideoSource/MotionAlarm",
            "Changed",
            "State",
            "true",
            "VideoSource_1",
        ),
        msg(
            "tns1:RuleEngine/CellMotionDetector/Motion",
            "Changed",
            "IsMotion",
            "true",
            "VideoSource_1",
        ),
        msg(
            "tns1:VideoSource/MotionAlarm",
            "Changed",
            "State",
            "false",
            "VideoSource_1",
        ),
    ]
    .concat();
    s.reply(&r, 200, pull_reply(cur, 3600, &changes));
    s.expect(Op::PullMessages);
    let got: Vec<(bool, bool, bool)> = s
        .motion
        .iter()
        .map(|m| (m.on, m.camera_motion, m.initialized))
        .collect();
    assert_eq!(
        got,
        vec![
            (true, true, false),
            (true, true, false),
            (false, true, false)
        ]
    );
    assert_eq!(s.motion[0].topic, "tns1:VideoSource/MotionAlarm");
    assert_eq!(s.motion[0].received_at, s.wall);
    assert_eq!(s.motion[0].camera_time, Some(cam_time()));
    assert_eq!(s.sm.health().motion_events, 5);
    assert_eq!(s.sm.health().messages, 6);
}
