//! MQTT and Home Assistant against a real broker (Debian's mosquitto, started here on
//! 127.0.0.1): discovery for every camera and again after Home Assistant's birth message,
//! availability and the will after SIGKILL, ONVIF motion → motion/state/event/clip messages,
//! commands (`motion/set`, `recording/set`, persisted), a broker outage during motion, and a
//! broker that refuses the login (docs/integrations.md).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use vigil::clips::safe_name;

/// A mosquitto broker on a port of its own, started by the test.
struct Broker {
    child: Option<Child>,
    port: u16,
    conf: PathBuf,
}

fn mosquitto() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("mosquitto is not installed (scripts/setup installs it)");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    /// A broker; with `login`, only that user and password get in.
    fn start(dir: &Path, login: Option<(&str, &str)>) -> Broker {
        Broker::start_with(dir, login, "")
    }

    /// [`Broker::start`] with more configuration lines (another listener).
    fn start_with(dir: &Path, login: Option<(&str, &str)>, extra: &str) -> Broker {
        let port = free_port();
        let mut conf = format!(
            "listener {port} 127.0.0.1\npersistence false\nlog_type error\nlog_type warning\n{extra}\n"
        );
        // Run as root (the tests do in CI), mosquitto would switch to its own user and could
        // not read the password file in our temporary directory.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            conf.push_str("user root\n");
        }
        match login {
            Some((user, pass)) => {
                let pw = dir.join("mosquitto.passwd");
                let st = Command::new("mosquitto_passwd")
                    .args(["-b", "-c"])
                    .arg(&pw)
                    .args([user, pass])
                    .status()
                    .expect("mosquitto_passwd runs");
                assert!(st.success());
                conf.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    pw.display()
                ));
            }
            None => conf.push_str("allow_anonymous true\n"),
        }
        let path = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(&path, conf).unwrap();
        let mut b = Broker {
            child: None,
            port,
            conf: path,
        };
        b.run();
        b
    }

    fn run(&mut self) {
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        let port = self.port;
        poll_until("mosquitto listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A message as a subscriber got it.
#[derive(Debug, Clone)]
struct Got {
    topic: String,
    payload: String,
}

/// A client subscribed to everything (`#`), keeping what it hears; it reconnects and
/// resubscribes by itself after a broker restart.
struct Watch {
    got: Arc<Mutex<Vec<Got>>>,
    client: Client,
    /// Its own marker topic, published right after each subscribe.
    marker: String,
}

impl Watch {
    fn new(port: u16) -> Watch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut o = MqttOptions::new(format!("test-watch-{n}"), "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut conn) = Client::new(o, 100);
        let got = Arc::new(Mutex::new(Vec::new()));
        let (g, c) = (got.clone(), client.clone());
        let marker = format!("test/ready/{n}");
        let m = marker.clone();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = c.try_subscribe("#", QoS::AtLeastOnce);
                        // The broker sends the retained messages of a subscription before
                        // anything this client publishes after it: seeing the marker come back
                        // means every retained message is in.
                        let _ = c.try_publish(&m, QoS::AtLeastOnce, false, "ready");
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => g.lock().unwrap().push(Got {
                        topic: p.topic.clone(),
                        payload: String::from_utf8_lossy(&p.payload).into_owned(),
                    }),
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                    Ok(_) => {}
                }
            }
        });
        Watch {
            got,
            client,
            marker,
        }
    }

    /// Waits until every retained message is in (see the marker above).
    fn ready(&self) {
        poll_until("the watcher subscribed", Duration::from_secs(20), || {
            self.latest(&self.marker).map(|_| ())
        });
    }

    fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// The last payload heard on `topic`.
    fn latest(&self, topic: &str) -> Option<String> {
        self.all()
            .into_iter()
            .rev()
            .find(|g| g.topic == topic)
            .map(|g| g.payload)
    }

    /// Waits until the last payload of `topic` is `want`.
    fn wait_for(&self, topic: &str, want: &str) {
        poll_until(
            &format!("{topic} = {want}"),
            Duration::from_secs(30),
            || (self.latest(topic).as_deref() == Some(want)).then_some(()),
        );
    }

    /// JSON messages of `topic`, oldest first.
    fn json(&self, topic: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|g| g.topic == topic && !g.payload.is_empty())
            .filter_map(|g| serde_json::from_str(&g.payload).ok())
            .collect()
    }

    fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .unwrap();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}

fn get(addr: &str, path: &str) -> Value {
    let (st, _, body) = http(addr, "GET", path, &[], b"");
    assert_eq!(st, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The clip a clip message links to, fetched through its `url` into `dir`.
fn fetch_clip(addr: &str, clip: &Value, dir: &Path) -> PathBuf {
    let url = clip["url"].as_str().unwrap();
    let path = url
        .strip_prefix(&format!("http://{addr}"))
        .expect("a link to this server");
    let (st, _, body) = http(addr, "GET", path, &[], b"");
    assert_eq!(st, 200, "GET {url}");
    let file = dir.join(format!("clip-{}.mp4", clip["id"]));
    std::fs::write(&file, body).unwrap();
    file
}

/// `vigil check --config FILE`: (exit status 0, what it printed).
fn vigil_check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn config_with_mqtt(dir: &Path, mqtt: &str) -> PathBuf {
    write_run_config(dir, &format!("\n[mqtt]\n{mqtt}\n"), "")
}

const DISCOVERY: [&str; 7] = [
    "binary_sensor/{o}/motion",
    "binary_sensor/{o}/stream",
    "sensor/{o}/state",
    "switch/{o}/recording",
    "button/{o}/trigger",
    "sensor/{o}/last_clip",
    "sensor/{o}/pre_buffer",
];

fn discovery_topics(camera: &str) -> Vec<String> {
    let o = format!("vigil_{}", safe_name(camera));
    DISCOVERY
        .iter()
        .map(|t| format!("homeassistant/{}/config", t.replace("{o}", &o)))
        .collect()
}

/// How many discovery configs of `camera` were heard.
fn discovery_count(w: &Watch, camera: &str) -> usize {
    let topics = discovery_topics(camera);
    w.all()
        .iter()
        .filter(|g| topics.contains(&g.topic) && !g.payload.is_empty())
        .count()
}

#[test]
fn home_assistant_discovers_cameras_commands_work_and_the_will_says_offline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path(), None);
    let w = Watch::new(broker.port);
    let config = config_with_mqtt(dir.path(), &format!("url = \"{}\"", broker.url()));
    let (ok, text) = vigil_check(&config);
    assert!(ok, "{text}");
    assert!(text.contains("mqtt ok: "), "{text}");
    let run = RunProcess::start(&config);
    let a = run.addr.clone();
    let yard = safe_name("back yard");
    let t = |leaf: &str| format!("vigil/{yard}/{leaf}");

    // Every camera is a device with its entities; vigil is available.
    w.wait_for("vigil/available", "online");
    for cam in ["front", "back yard"] {
        poll_until(
            &format!("discovery of {cam}"),
            Duration::from_secs(20),
            || (discovery_count(&w, cam) == 7).then_some(()),
        );
    }
    let motion_cfg: Value =
        serde_json::from_str(&w.latest(&discovery_topics("back yard")[0]).unwrap()).unwrap();
    assert_eq!(motion_cfg["state_topic"], t("motion"));
    assert_eq!(motion_cfg["device"]["name"], "back yard");
    assert_eq!(motion_cfg["device"]["model"], "vigil");
    assert_eq!(
        motion_cfg["unique_id"],
        format!("vigil_{yard}_motion"),
        "stable ids"
    );
    assert!(motion_cfg["device"]["configuration_url"]
        .as_str()
        .unwrap()
        .ends_with("/#/camera/back%20yard"));
    w.wait_for(&t("state"), "BUFFERING");
    w.wait_for(&t("motion"), "OFF");
    w.wait_for(&t("recording"), "ON");

    // Home Assistant's birth message: every config again.
    w.publish("homeassistant/status", "online");
    poll_until("discovery sent again", Duration::from_secs(20), || {
        (discovery_count(&w, "front") >= 14 && discovery_count(&w, "back yard") >= 14).then_some(())
    });

    // Wait for a full pre-buffer, then "record now" from Home Assistant's button.
    poll_until("2 s buffered", Duration::from_secs(20), || {
        let b = get(&a, "/api/motion_recording/buffer_stats/back%20yard");
        (b["duration_secs"].as_f64().unwrap_or(0.0) >= 2.0).then_some(())
    });
    w.publish(&t("motion/set"), "PULSE");
    w.wait_for(&t("motion"), "ON");
    w.wait_for(&t("state"), "RECORDING");
    let clip = poll_until("the clip message", Duration::from_secs(30), || {
        w.json(&t("clip")).into_iter().next()
    });
    let events = w.json(&t("event"));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        (events[0]["type"].as_str(), events[1]["type"].as_str()),
        (Some("start"), Some("end"))
    );
    assert_eq!(events[0]["source"], "mqtt");
    assert_eq!(events[0]["kind"], "motion");
    assert_eq!(events[0]["event_id"], events[1]["event_id"]);
    let row = get(&a, &format!("/api/recordings/{}", clip["id"]));
    assert_eq!(row["status"], "complete");
    assert!(clip["pre_roll_secs"].as_f64().unwrap() >= 1.9, "{clip}");
    assert_eq!(clip["pre_roll_secs"], row["pre_roll_secs"]);
    assert_eq!(clip["kinds"], json!(["motion"]));
    assert_eq!(clip["camera"], "back yard");
    let url = clip["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("http://{a}/api/recordings/{}/file", clip["id"])
    );
    w.wait_for(&t("state"), "BUFFERING");
    w.wait_for(&t("motion"), "OFF");
    assert_eq!(
        serde_json::from_str::<Value>(&w.latest(&t("last_clip")).unwrap()).unwrap()["id"],
        clip["id"]
    );
    let file = fetch_clip(&a, &clip, dir.path());
    let facts = check_clip(&file);
    assert!(facts.first_video_packet_key, "{file:?}");

    // A bad command is logged and ignored; motion recording off is persisted.
    w.publish(&t("motion/set"), "maybe");
    poll_until("a refused command", Duration::from_secs(10), || {
        (get(&a, "/api/integrations")["mqtt"]["commands_rejected"] == 1).then_some(())
    });
    w.publish(&t("recording/set"), "OFF");
    w.wait_for(&t("recording"), "OFF");
    let cfg = get(&a, "/api/motion_recording/config/back%20yard");
    assert_eq!(cfg["enabled"], false);
    let i = get(&a, "/api/integrations");
    assert_eq!(i["mqtt"]["state"], "connected", "{i}");
    assert!(i["mqtt"]["commands"].as_u64().unwrap() >= 2, "{i}");
    assert!(i["mqtt"]["sent"].as_u64().unwrap() > 20, "{i}");

    // SIGKILL: the broker says offline for vigil (its will).
    let mut run = run;
    run.demo.child.kill().unwrap();
    run.demo.child.wait().unwrap();
    w.wait_for("vigil/available", "offline");

    // Started again: recording is still off, and says so.
    let run = RunProcess::start(&config);
    w.wait_for("vigil/available", "online");
    let cfg = get(&run.addr, "/api/motion_recording/config/back%20yard");
    assert_eq!(
        cfg["enabled"], false,
        "recording/set OFF survives a restart"
    );
    let w2 = Watch::new(broker.port);
    w2.ready();
    w2.wait_for(&t("recording"), "OFF");
    w2.wait_for(&t("state"), "IDLE");
    run.stop();
    w.wait_for("vigil/available", "offline");
}

#[test]
fn a_broker_outage_during_motion_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path(), None);
    let config = config_with_mqtt(dir.path(), &format!("url = \"{}\"", broker.url()));
    let run = RunProcess::start(&config);
    let a = run.addr.clone();
    let w = Watch::new(broker.port);
    let t = |leaf: &str| format!("vigil/front/{leaf}");
    w.wait_for(&t("motion"), "OFF");
    poll_until("2 s buffered", Duration::from_secs(20), || {
        let b = get(&a, "/api/motion_recording/buffer_stats/front");
        (b["duration_secs"].as_f64().unwrap_or(0.0) >= 2.0).then_some(())
    });

    // The broker goes away for 10 s; motion begins while it is gone.
    broker.kill();
    let gone = Instant::now();
    poll_until(
        "vigil sees the broker gone",
        Duration::from_secs(20),
        || (get(&a, "/api/integrations")["mqtt"]["connected"] == false).then_some(()),
    );
    post_motion(&a, "front", r#"{"action": "start"}"#);
    poll_until("RECORDING", Duration::from_secs(10), || {
        let c = get(&a, "/api/cameras");
        let front = c["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "front")
            .cloned()
            .unwrap();
        (front["state"] == "RECORDING").then_some(())
    });
    // The outage is the scenario: it lasts 10 s whatever vigil does meanwhile.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(gone.elapsed()));
    let i = get(&a, "/api/integrations");
    assert_eq!(i["mqtt"]["state"], "backoff", "{i}");
    assert!(
        i["mqtt"]["last_error"].as_str().unwrap().contains("broker"),
        "{i}"
    );
    let failures = i["mqtt"]["connect_failures"].as_u64().unwrap();
    assert!(
        (2..=12).contains(&failures),
        "a capped backoff, not a hot loop: {failures} failures in 10 s"
    );

    // Back: vigil reconnects by itself; a newcomer sees the right retained states (the broker
    // kept nothing: no persistence), and the event of the outage arrives.
    broker.run();
    let fresh = Watch::new(broker.port);
    fresh.wait_for(&t("motion"), "ON");
    fresh.wait_for(&t("state"), "RECORDING");
    fresh.wait_for("vigil/available", "online");
    poll_until("the outage's event start", Duration::from_secs(20), || {
        let ev = fresh.json(&t("event"));
        ev.iter().any(|e| e["type"] == "start").then_some(())
    });
    assert_eq!(get(&a, "/api/integrations")["mqtt"]["state"], "connected");

    // Recording was not touched: the clip closes whole, with its pre-roll.
    post_motion(&a, "front", r#"{"action": "stop"}"#);
    let clip = poll_until("the clip message", Duration::from_secs(30), || {
        fresh.json(&t("clip")).into_iter().next()
    });
    assert!(clip["pre_roll_secs"].as_f64().unwrap() >= 1.9, "{clip}");
    assert!(clip["duration_secs"].as_f64().unwrap() >= 12.0, "{clip}");
    assert_eq!(
        get(&a, &format!("/api/recordings/{}", clip["id"]))["status"],
        "complete"
    );
    let file = fetch_clip(&a, &clip, dir.path());
    let facts = check_clip(&file);
    assert!(facts.first_video_packet_key, "{file:?}");
    assert!(facts.duration >= 12.0, "{facts:?}");
    run.stop();
}

#[test]
fn a_refused_login_is_reported_and_retried_slowly() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path(), Some(("vigil", "right")));
    let config = config_with_mqtt(
        dir.path(),
        &format!(
            "url = \"{}\"\nusername = \"vigil\"\npassword = \"wrong\"",
            broker.url()
        ),
    );
    // `vigil check` says so, and fails.
    let (ok, text) = vigil_check(&config);
    assert!(!ok, "{text}");
    assert!(
        text.contains("mqtt FAILED: ") && text.contains("refused the login"),
        "{text}"
    );
    let mut run = RunProcess::start(&config);
    let a = run.addr.clone();
    let i = poll_until("a refused login", Duration::from_secs(20), || {
        let i = get(&a, "/api/integrations");
        (i["mqtt"]["connect_failures"].as_u64() >= Some(1)).then_some(i)
    });
    let m = &i["mqtt"];
    assert_eq!(m["state"], "backoff", "{i}");
    assert!(
        m["last_error"]
            .as_str()
            .unwrap()
            .contains("refused the login"),
        "{i}"
    );
    assert!(m["retry_in_secs"].as_f64().unwrap() >= 10.0, "{i}");
    assert!(
        !i.to_string().contains("wrong"),
        "no password in the API: {i}"
    );
    let logged = |l: &String| l.contains("MQTT") && l.contains("refused the login");
    if !run.demo.log.iter().any(logged) {
        run.demo
            .wait_for(&["MQTT", "refused the login"], Duration::from_secs(5));
    }
    // No hot loop: the next attempt waits its backoff (10 s at least), so two seconds on there has
    // been no second failure.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        get(&a, "/api/integrations")["mqtt"]["connect_failures"],
        1,
        "one attempt, then the backoff"
    );
    // Recording goes on regardless.
    post_motion(&a, "front", r#"{"action": "pulse", "duration_ms": 500}"#);
    poll_until("a clip", Duration::from_secs(30), || {
        let r = get(&a, "/api/recordings?camera=front");
        r["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "complete")
            .then_some(())
    });
    run.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onvif_motion_is_published_as_motion_state_events_and_a_clip() {
    use vigil_onvif_sim::{Detection, SimCamera as OnvifCam, SimConfig, Vendor};
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path(), None);
    let w = Watch::new(broker.port);
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let defaults = format!(
        "pre_buffer_secs = 1\npost_buffer_secs = 1\n[mqtt]\nurl = \"{}\"\ntopic_prefix = \"site/nvr\"",
        broker.url()
    );
    let app = onvif_app(dir.path(), &sim.device_url(), "secret", &defaults, "");
    onvif_ready(&app, 1.0).await;
    let t = |leaf: &str| format!("site/nvr/cam/{leaf}");
    let latest = |topic: String, want: &'static str| {
        let w = &w;
        move || (w.latest(&topic).as_deref() == Some(want)).then_some(())
    };
    let limit = Duration::from_secs(20);
    until_async("motion OFF", limit, latest(t("motion"), "OFF")).await;

    sim.motion(true);
    until_async("motion ON", limit, latest(t("motion"), "ON")).await;
    until_async("RECORDING", limit, latest(t("state"), "RECORDING")).await;
    sim.motion(false);
    until_async("motion OFF again", limit, latest(t("motion"), "OFF")).await;
    let clip = until_async("the clip message", Duration::from_secs(30), || {
        w.json(&t("clip")).into_iter().next()
    })
    .await;
    let events = w.json(&t("event"));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["type"], "start");
    assert_eq!(events[0]["source"], "onvif");
    assert_eq!(events[0]["camera"], "cam");
    assert_eq!(events[1]["type"], "end");
    let row = app
        .handle()
        .catalog()
        .clip(clip["id"].as_i64().unwrap())
        .unwrap()
        .expect("the clip's id is the catalog's");
    assert_eq!(clip["pre_roll_secs"], row.pre_roll_secs);
    assert!(row.pre_roll_secs >= 0.9, "{clip}");
    assert!(clip["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/recordings/{}/file", row.id)));

    // A person from the camera's analytics: its own sensor, announced when first seen.
    let person_cfg = "homeassistant/binary_sensor/vigil_cam/person/config";
    assert!(w.latest(person_cfg).is_none(), "no person seen yet");
    sim.detect(Detection::ReolinkPerson, true);
    until_async("person ON", limit, latest(t("person"), "ON")).await;
    let cfg: Value = serde_json::from_str(&w.latest(person_cfg).unwrap()).unwrap();
    assert_eq!(cfg["state_topic"], t("person"));
    assert_eq!(cfg["device_class"], "occupancy");
    assert_eq!(
        w.latest(&t("motion")).as_deref(),
        Some("ON"),
        "person is in record_on"
    );
    sim.detect(Detection::ReolinkPerson, false);
    until_async("person OFF", limit, latest(t("person"), "OFF")).await;
    until_async(
        "motion OFF after the person",
        limit,
        latest(t("motion"), "OFF"),
    )
    .await;

    // The camera taken out of the set: its device goes from Home Assistant (empty retained
    // configs), so a newcomer sees none of it.
    let h = app.handle();
    tokio::task::spawn_blocking(move || h.cameras().stop("cam").unwrap())
        .await
        .unwrap();
    until_async("the person config cleared", limit, || {
        (w.latest(person_cfg).as_deref() == Some("")).then_some(())
    })
    .await;
    let newcomer = Watch::new(broker.port);
    let n = &newcomer;
    until_async("the newcomer subscribed", limit, || {
        n.latest(&n.marker).map(|_| ())
    })
    .await;
    assert_eq!(
        newcomer.latest("site/nvr/available").as_deref(),
        Some("online")
    );
    let left: Vec<String> = newcomer
        .all()
        .into_iter()
        .filter(|g| g.topic.contains("vigil_cam") || g.topic.starts_with("site/nvr/cam/"))
        .map(|g| g.topic)
        .collect();
    assert!(left.is_empty(), "retained left behind: {left:?}");
    app.shutdown().await;
    until_async(
        "offline at shutdown",
        limit,
        latest("site/nvr/available".into(), "offline"),
    )
    .await;
}

#[test]
fn mqtts_with_the_brokers_own_authority_and_a_clear_error_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::make_certs(dir.path());
    let tls_port = free_port();
    let broker = Broker::start_with(
        dir.path(),
        None,
        &format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            ca.display(),
            cert.display(),
            key.display()
        ),
    );
    let w = Watch::new(broker.port);
    let url = format!("mqtts://127.0.0.1:{tls_port}");

    // The system's roots don't know this authority: a clear TLS error, retried.
    let bad = tempfile::tempdir().unwrap();
    let run = RunProcess::start(&config_with_mqtt(bad.path(), &format!("url = \"{url}\"")));
    let i = poll_until("a TLS failure", Duration::from_secs(20), || {
        let i = get(&run.addr, "/api/integrations");
        (i["mqtt"]["connect_failures"].as_u64() >= Some(1)).then_some(i)
    });
    let err = i["mqtt"]["last_error"].as_str().unwrap().to_owned();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    run.stop();

    // With `ca_file`: connected over TLS; the states arrive.
    let good = tempfile::tempdir().unwrap();
    let run = RunProcess::start(&config_with_mqtt(
        good.path(),
        &format!("url = \"{url}\"\nca_file = \"{}\"", ca.display()),
    ));
    w.wait_for("vigil/front/state", "BUFFERING");
    let i = get(&run.addr, "/api/integrations");
    assert_eq!(i["mqtt"]["state"], "connected", "{i}");
    run.stop();
    w.wait_for("vigil/available", "offline");
}
