//! Two nodes sharing four cameras through a real PostgreSQL catalog (docs/cluster.md): each
//! camera recorded by one node (2 + 2 once both run), a trigger sent to either node reaches the
//! recording one, a SIGKILLed node's cameras recorded by the other within `lease_secs` + a few
//! seconds, a cleanly stopped node's at once; no clip written by two nodes at the same time,
//! every clip playable. Prints the takeover figures docs/cluster.md quotes.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

const LEASE_SECS: u64 = 3;
const CAMERAS: [&str; 4] = ["c1", "c2", "c3", "c4"];

fn node_config(dir: &Path, node: &str, port: u16, db: &str) -> PathBuf {
    let media = dir.join("media.mp4");
    if !media.exists() {
        std::fs::write(&media, common::SAMPLE_H264).unwrap();
    }
    pg::cluster_node_config(dir, node, port, db, LEASE_SECS, &CAMERAS, &media)
}

fn get(addr: &str, path: &str) -> Value {
    let (st, _, b) = common::http(addr, "GET", path, &[], b"");
    assert_eq!(st, 200, "GET {path}: {}", String::from_utf8_lossy(&b));
    serde_json::from_slice(&b).unwrap()
}

/// camera → node recording it, as `addr`'s `/api/cameras` says (only cameras with a node).
fn holders(addr: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = get(addr, "/api/cameras")["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let node = c["node"].as_str()?;
            // A camera of this node's list that it records itself has its live state.
            (c["state"] != "unassigned")
                .then(|| (c["name"].as_str().unwrap().to_owned(), node.to_owned()))
        })
        .collect();
    out.sort();
    out
}

/// Opens `camera`'s live view on `addr`, checks its hello, reads three seconds of it while
/// `viewers` (the recording node's count) shows the viewer, closes it; returns the MP4.
fn live_through(
    addr: &str,
    camera: &str,
    codecs: &str,
    viewers: impl Fn() -> Option<Value>,
) -> Vec<u8> {
    use tungstenite::Message;
    let sock = std::net::TcpStream::connect(addr).unwrap();
    let url = format!("ws://{addr}/api/cameras/{camera}/live.ws");
    let (mut ws, resp) = tungstenite::client(url, sock).expect("the WebSocket opens through B");
    assert_eq!(resp.status(), 101);
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match ws.read().expect("the hello") {
        Message::Text(t) => {
            let h: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(h["codecs"], codecs, "{h}");
        }
        m => panic!("the first message is not the hello: {m:?}"),
    }
    let mut mp4 = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        match ws.read().expect("the stream goes on") {
            Message::Binary(b) => mp4.extend_from_slice(&b),
            m => panic!("unexpected {m:?}"),
        }
    }
    assert_eq!(&mp4[4..8], b"ftyp", "an init segment first");
    common::poll_until(
        "the recording node counting the viewer",
        Duration::from_secs(10),
        || (viewers() == Some(Value::from(1))).then_some(()),
    );
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    common::poll_until(
        "the viewer gone on the recording node",
        Duration::from_secs(10),
        || (viewers() == Some(Value::from(0))).then_some(()),
    );
    mp4
}

fn count(h: &[(String, String)], node: &str) -> usize {
    h.iter().filter(|(_, n)| n == node).count()
}

/// Waits until `addr` says `node` records every camera, and all of them run there.
fn until_all_on(addr: &str, node: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    common::poll_until(&format!("every camera on {node}"), limit, || {
        let cams = get(addr, "/api/cameras");
        let all = cams["cameras"].as_array().unwrap();
        let ok = all.len() == CAMERAS.len()
            && all.iter().all(|c| {
                c["node"] == node && c["state"] != "elsewhere" && c["state"] != "unassigned"
            });
        ok.then_some(())
    });
    t0.elapsed()
}

fn pulse(addr: &str, camera: &str) {
    common::post_motion(addr, camera, r#"{"action":"pulse","duration_ms":500}"#);
}

/// Every clip row: (id, camera, node, start µs, end µs, key, status).
fn clips(server: &pg::PgServer, db: &str) -> Vec<(i64, String, String, i64, i64, String, String)> {
    server
        .psql(
            db,
            "SELECT clip.id, camera.name, clip.node, COALESCE(clip.start_at, clip.opened_at), \
             COALESCE(clip.end_at, clip.opened_at), clip.key, clip.status \
             FROM clip JOIN camera ON camera.id = clip.camera_id ORDER BY clip.id",
        )
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[0].parse().unwrap(),
                f[1].to_owned(),
                f[2].to_owned(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
                f[5].to_owned(),
                f[6].to_owned(),
            )
        })
        .collect()
}

#[test]
fn two_nodes_share_four_cameras_and_take_over_from_each_other() {
    let server = pg::PgServer::start();
    let url = server.new_db();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (pg::free_port(), pg::free_port());
    let cfg_a = node_config(dir.path(), "node-a", pa, &url);
    let cfg_b = node_config(dir.path(), "node-b", pb, &url);

    // A alone takes all four; B joins: two each.
    let mut a = common::RunProcess::start(&cfg_a);
    until_all_on(&a.addr, "node-a", Duration::from_secs(30));
    let b = common::RunProcess::start(&cfg_b);
    let split = common::poll_until("two cameras each", Duration::from_secs(30), || {
        let h = holders(&a.addr);
        (h.len() == 4 && count(&h, "node-a") == 2 && count(&h, "node-b") == 2).then_some(h)
    });
    assert_eq!(holders(&b.addr), split, "both nodes say the same");

    // A trigger for each camera, sent to the node that does NOT record it: passed on.
    for (cam, node) in &split {
        let other = if node == "node-a" { &b.addr } else { &a.addr };
        // (The node that doesn't record it lists it as the recording node does.)
        common::wait_streaming_camera(other, cam, &[]);
        pulse(other, cam);
    }
    common::poll_until("a clip of every camera", Duration::from_secs(60), || {
        let c = clips(&server, &db);
        CAMERAS
            .iter()
            .all(|cam| c.iter().any(|x| x.1 == *cam && x.6 == "complete"))
            .then_some(())
    });
    for (cam, node) in &split {
        assert!(
            clips(&server, &db)
                .iter()
                .any(|x| &x.1 == cam && &x.2 == node),
            "{cam}'s clip is written by {node}, its recorder"
        );
    }
    // A clip only A's disk has, asked of B: B passes the request to A (Range too).
    let of_a = clips(&server, &db)
        .into_iter()
        .find(|c| c.2 == "node-a" && c.6 == "complete")
        .unwrap();
    let on_disk = std::fs::read(dir.path().join("node-a/clips").join(&of_a.5)).unwrap();
    let (st, _, body) = common::http(
        &b.addr,
        "GET",
        &format!("/api/recordings/{}/file", of_a.0),
        &[],
        b"",
    );
    assert_eq!(st, 200);
    assert!(body == on_disk, "node-a's clip through node-b");
    let (st, _, part) = common::http(
        &b.addr,
        "GET",
        &format!("/api/recordings/{}/file", of_a.0),
        &[("Range", "bytes=10-19")],
        b"",
    );
    assert_eq!((st, part.as_slice()), (206, &on_disk[10..20]));

    // A setting sent to the other node reaches the recording one.
    // (From B's own page, as a browser sends it: B checks the Origin, A never sees it.)
    let (cam_a, _) = split.iter().find(|(_, n)| n == "node-a").unwrap().clone();
    let origin = format!("http://{}", b.addr);
    let (st, _, body) = common::http(
        &b.addr,
        "POST",
        &format!("/api/motion_recording/config/{cam_a}"),
        &[("Origin", origin.as_str())],
        br#"{"post_buffer_secs": 2}"#,
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let on_a = get(&a.addr, &format!("/api/motion_recording/config/{cam_a}"));
    assert_eq!(on_a["post_buffer_secs"], 2);

    // B lists A's camera as A does (its live state and live view), and A's live view plays
    // through B: the WebSocket is tunnelled to A.
    let listed = common::poll_until(
        "A's camera listed in full by B",
        Duration::from_secs(20),
        || {
            get(&b.addr, "/api/cameras")["cameras"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == cam_a.as_str() && c["stream"]["up"] == true)
                .cloned()
        },
    );
    assert_eq!(listed["node"], "node-a", "{listed}");
    let codecs = listed["live"]["codecs"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(codecs.starts_with("avc1."), "{listed}");
    let mp4 = live_through(&b.addr, &cam_a, &codecs, || {
        let on_a = get(&a.addr, "/api/cameras");
        let c = on_a["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == cam_a.as_str());
        c.map(|c| c["live"]["viewers"].clone())
    });
    let file = dir.path().join("live-through-b.mp4");
    std::fs::write(&file, &mp4).unwrap();
    let p = common::probe(&file);
    assert_eq!(p["streams"][0]["codec_name"], "h264", "{p}");
    assert_eq!(
        common::decode_errors(&file),
        "",
        "A's live view through B decodes"
    );

    // SIGKILL A: B records its cameras within lease_secs + a few seconds.
    a.demo.child.kill().unwrap();
    a.demo.child.wait().unwrap();
    let killed = Instant::now();
    until_all_on(&b.addr, "node-b", Duration::from_secs(LEASE_SECS + 10));
    let takeover = killed.elapsed();
    eprintln!(
        "FIGURE takeover after SIGKILL: {:.2} s (lease_secs = {LEASE_SECS})",
        takeover.as_secs_f64()
    );
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS + 5),
        "{takeover:?}"
    );
    for cam in CAMERAS {
        // (A camera B has only just started may still wait for its stream: a pulse before that
        // records nothing.)
        common::wait_streaming_camera(&b.addr, cam, &[]);
        pulse(&b.addr, cam);
    }
    common::poll_until("B's clips of every camera", Duration::from_secs(60), || {
        let c = clips(&server, &db);
        CAMERAS
            .iter()
            .all(|cam| {
                c.iter()
                    .any(|x| x.1 == *cam && x.2 == "node-b" && x.6 == "complete" && x.3 > 0)
            })
            .then_some(())
    });
    // The pre-roll a trigger right at the takeover got: the new node's pre-buffer had only
    // just started filling.
    let pre: Vec<f64> = get(&b.addr, "/api/recordings?limit=100")["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["node"] == "node-b" && c["status"] == "complete")
        .map(|c| c["pre_roll_secs"].as_f64().unwrap())
        .collect();
    eprintln!(
        "FIGURE pre-roll of triggers right after the takeover (pre_buffer_secs = 1): {pre:?}"
    );

    // A comes back (its torn clips recovered), gets its share; then B stops cleanly: A has
    // every camera well within a lease.
    let a = common::RunProcess::start(&cfg_a);
    common::poll_until("two cameras each again", Duration::from_secs(30), || {
        let h = holders(&a.addr);
        (h.len() == 4 && count(&h, "node-a") == 2).then_some(())
    });
    let stopping = Instant::now();
    b.stop();
    let handover = until_all_on(&a.addr, "node-a", Duration::from_secs(LEASE_SECS + 10));
    let handover = handover.min(stopping.elapsed());
    eprintln!(
        "FIGURE takeover after a clean stop: {:.2} s (from the stop request)",
        handover.as_secs_f64()
    );
    a.stop();

    // No clip written by two nodes at once: per camera, clips of different nodes don't overlap.
    let all = clips(&server, &db);
    assert!(all.iter().all(|c| c.2 == "node-a" || c.2 == "node-b"));
    for cam in CAMERAS {
        let mut mine: Vec<_> = all.iter().filter(|c| c.1 == cam).collect();
        mine.sort_by_key(|c| c.3);
        for w in mine.windows(2) {
            if w[0].2 != w[1].2 {
                assert!(
                    w[0].4 <= w[1].3,
                    "{cam}: {} ({}) and {} ({}) overlap",
                    w[0].0,
                    w[0].2,
                    w[1].0,
                    w[1].2
                );
            }
        }
    }
    // Every clip playable, from the disk of the node that wrote it.
    for c in &all {
        assert_ne!(c.6, "recording", "clip {} left open: {c:?}", c.0);
        let file = dir.path().join(&c.2).join("clips").join(&c.5);
        let facts = common::check_clip(&file);
        assert!(facts.first_video_packet_key, "{c:?}");
    }
}
