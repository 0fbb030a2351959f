//! The clip store through a running `vigil run` against a real S3-compatible server (s3s-fs,
//! started here on 127.0.0.1: tests/common/s3.rs), docs/cluster.md:
//! - a clip is uploaded in parts (paced by max_upload_mbps), the store is killed mid-upload
//!   (an alert, nothing lost), started again: the upload goes on from its journaled parts;
//!   vigil is SIGKILLed mid-upload, started again: it goes on again; the stored object is the
//!   clip byte for byte;
//! - with keep_local_days = 0 the local copy goes; the API serves the clip from the store, whole
//!   (ffprobe/ffmpeg check it) and with Range;
//! - retention deletes the clip: the object leaves the store.

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

const PART: u64 = 5 << 20;

fn get(addr: &str, path: &str) -> Value {
    let (st, _, b) = common::http(addr, "GET", path, &[], b"");
    assert_eq!(st, 200, "GET {path}: {}", String::from_utf8_lossy(&b));
    serde_json::from_slice(&b).unwrap()
}

/// Makes camera `front` a high-bitrate one (720p noise at ~24 Mbit/s, 8 s looping).
fn big_camera(config: &Path, dir: &Path) {
    let media = dir.join("big.mp4");
    if !media.exists() {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i"])
            .arg("testsrc2=s=1280x720:r=25,noise=alls=40:allf=t")
            .args([
                "-t",
                "8",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-b:v",
                "24M",
            ])
            .args([
                "-maxrate", "24M", "-bufsize", "8M", "-g", "25", "-pix_fmt", "yuv420p",
            ])
            .arg(&media)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(config).unwrap();
    let front = dir.join("front.mp4");
    let text = text.replace(
        &format!("url = \"file:{}\"", front.display()),
        &format!("url = \"file:{}\"", media.display()),
    );
    assert!(text.contains("big.mp4"));
    std::fs::write(config, text).unwrap();
}

fn write_config(dir: &Path, store: &str, extra: &str) -> std::path::PathBuf {
    let config = common::write_run_config(dir, "", "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{store}\n{extra}\n{text}")).unwrap();
    config
}

/// Parts of the clip's upload the catalog has journaled.
fn journaled_parts(dir: &Path, clip: i64) -> usize {
    let c = rusqlite::Connection::open(dir.join("catalog.db")).unwrap();
    let parts: Option<String> = c
        .query_row(
            "SELECT parts FROM clip_upload WHERE clip_id = ?1",
            [clip],
            |r| r.get(0),
        )
        .ok();
    parts.map_or(0, |p| p.split(',').filter(|s| !s.is_empty()).count())
}

fn clip(addr: &str, id: i64) -> Value {
    get(addr, &format!("/api/recordings/{id}"))
}

fn store_state(addr: &str) -> Value {
    get(addr, "/api/storage")["clip_store"].clone()
}

#[test]
fn clips_go_to_the_store_through_outages_and_crashes_and_come_back_from_it() {
    let mut server = s3::S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    // S3's smallest part is 5 MiB: a camera of ~24 Mbit/s makes a clip of several parts,
    // uploaded at 20 Mbit/s: a part every ~2 s, time to break things between parts.
    let store = server.config(
        "keep_local_days = 0\npart_size = \"5MiB\"\nmax_upload_mbps = 20\nmax_concurrent_uploads = 1",
    );
    let config = write_config(dir.path(), &store, "");
    big_camera(&config, dir.path());
    let mut run = common::RunProcess::start(&config);
    let a = run.addr.clone();
    common::wait_streaming_camera(&a, "front", &[]);
    common::post_motion(&a, "front", r#"{"action":"pulse","duration_ms":4500}"#);
    let id = common::poll_until("a finished clip", Duration::from_secs(60), || {
        let r = get(&a, "/api/recordings?camera=front");
        r["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["status"] == "complete")
            .and_then(|c| c["id"].as_i64())
    });
    let row = clip(&a, id);
    let key = {
        let c = rusqlite::Connection::open(dir.path().join("catalog.db")).unwrap();
        c.query_row("SELECT key FROM clip WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })
        .unwrap()
    };
    let local = std::fs::read(dir.path().join("clips").join(&key)).unwrap();
    let bytes = row["bytes"].as_u64().unwrap();
    assert_eq!(local.len() as u64, bytes);
    assert!(bytes > 3 * PART, "a clip of several parts: {bytes} bytes");

    // The store goes down after the first part: an alert, the clip stays local.
    common::poll_until("a journaled part", Duration::from_secs(30), || {
        (journaled_parts(dir.path(), id) >= 1).then_some(())
    });
    assert_eq!(clip(&a, id)["store_status"], "uploading");
    server.kill();
    let alert = common::poll_until("the store's alert", Duration::from_secs(60), || {
        let s = get(&a, "/api/storage");
        s["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|al| al["kind"] == "clip_store")
            .cloned()
    });
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("stay on this machine"),
        "{alert}"
    );
    assert_eq!(store_state(&a)["state"]["up"], false);
    let (_, _, metrics) = common::http(&a, "GET", "/metrics", &[], b"");
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("vigil_clip_store_up 0"), "{metrics}");
    assert!(dir.path().join("clips").join(&key).exists(), "nothing lost");

    // Back up: the upload goes on from its journal.
    let before = journaled_parts(dir.path(), id);
    server.restart();
    common::poll_until(
        "another part after the outage",
        Duration::from_secs(90),
        || (journaled_parts(dir.path(), id) > before).then_some(()),
    );
    let state = store_state(&a);
    assert!(
        state["state"]["resumed_uploads"].as_u64().unwrap() >= 1,
        "{state}"
    );

    // vigil killed mid-upload; started again, it goes on from the journal.
    let parts_at_kill = journaled_parts(dir.path(), id);
    run.demo.child.kill().unwrap();
    run.demo.child.wait().unwrap();
    assert!(
        parts_at_kill < bytes.div_ceil(PART) as usize,
        "killed before the last part"
    );
    let run = common::RunProcess::start(&config);
    let a = run.addr.clone();
    let row = common::poll_until("the clip stored", Duration::from_secs(120), || {
        let c = clip(&a, id);
        (c["store_status"] == "stored" && c["local"] == false).then_some(c)
    });
    assert_eq!(row["bytes"].as_u64(), Some(bytes));
    let state = store_state(&a);
    assert!(
        state["state"]["resumed_uploads"].as_u64().unwrap() >= 1,
        "the new process went on with the old upload: {state}"
    );
    assert_eq!(state["state"]["up"], true);
    let stored = std::fs::read(server.object_file(&key)).unwrap();
    assert!(
        stored == local,
        "the stored object is the clip, byte for byte"
    );
    assert!(
        !dir.path().join("clips").join(&key).exists(),
        "keep_local_days = 0: the local copy went"
    );

    // Served from the store: whole (checked by ffprobe/ffmpeg) and with Range.
    let (st, h, body) = common::http(&a, "GET", &format!("/api/recordings/{id}/file"), &[], b"");
    assert_eq!(st, 200);
    assert!(body == local);
    assert_eq!(common::header(&h, "content-type"), Some("video/mp4"));
    let file = dir.path().join("from-store.mp4");
    std::fs::write(&file, &body).unwrap();
    let facts = common::check_clip(&file);
    assert!(
        facts.first_video_packet_key && facts.duration > 3.0,
        "{}",
        facts.duration
    );
    let (st, h, part) = common::http(
        &a,
        "GET",
        &format!("/api/recordings/{id}/file"),
        &[("Range", "bytes=100-1099")],
        b"",
    );
    assert_eq!(st, 206);
    assert_eq!(part, &local[100..1100]);
    assert_eq!(
        common::header(&h, "content-range"),
        Some(format!("bytes 100-1099/{bytes}").as_str())
    );
    let (st, _, _) = common::http(
        &a,
        "GET",
        &format!("/api/recordings/{id}/file"),
        &[("Range", &format!("bytes={bytes}-"))],
        b"",
    );
    assert_eq!(st, 416);
    // Its picture stays local (the UI lists many); the store has a copy too.
    let (st, _, _) = common::http(
        &a,
        "GET",
        &format!("/api/recordings/{id}/thumbnail.jpg"),
        &[],
        b"",
    );
    assert_eq!(st, 200);
    assert!(server.object_file(&key.replace(".mp4", ".jpg")).exists());
    run.stop();

    // serve = "redirect": a presigned URL of the store, which the store honours.
    let redirect = server.config("keep_local_days = 0\npart_size = \"5MiB\"\nserve = \"redirect\"");
    let config = write_config(dir.path(), &redirect, "");
    big_camera(&config, dir.path());
    let run = common::RunProcess::start(&config);
    let (st, h, _) = common::http(
        &run.addr,
        "GET",
        &format!("/api/recordings/{id}/file"),
        &[],
        b"",
    );
    assert_eq!(st, 307);
    let location = common::header(&h, "location").unwrap().to_owned();
    let rest = location
        .strip_prefix(&format!("{}/", server.endpoint()))
        .unwrap_or_else(|| panic!("a URL of the store: {location}"));
    assert!(rest.contains("X-Amz-Signature="), "{location}");
    let (st, _, body) = common::http(
        &format!("127.0.0.1:{}", server.port),
        "GET",
        &format!("/{rest}"),
        &[],
        b"",
    );
    assert_eq!(st, 200, "the store honours its presigned URL");
    assert!(body == local);
    // Without the signature the store refuses: the redirect is what gives access.
    let bare = rest.split('?').next().unwrap();
    let (st, _, _) = common::http(
        &format!("127.0.0.1:{}", server.port),
        "GET",
        &format!("/{bare}"),
        &[],
        b"",
    );
    assert_eq!(st, 403);
    run.stop();

    // Retention deletes the clip: the object leaves the store too.
    let config = write_config(dir.path(), &store, "[storage]\nmax_bytes = \"1KB\"");
    big_camera(&config, dir.path());
    let run = common::RunProcess::start(&config);
    let a = run.addr.clone();
    common::poll_until("the object deleted", Duration::from_secs(60), || {
        (!server.object_file(&key).exists()).then_some(())
    });
    let (st, _, _) = common::http(&a, "GET", &format!("/api/recordings/{id}"), &[], b"");
    assert_eq!(st, 404);
    assert!(!server.object_file(&key.replace(".mp4", ".jpg")).exists());
    run.stop();
}
