//! vigil's own motion detection against media with a known truth, made here with ffmpeg
//! (docs/detection.md): an object crossing at known seconds is found within 1 s of its start,
//! and heavy noise, a slow light change, a sudden brightness step and an object in a masked
//! area raise nothing. The media go through the real parts (the MP4 reader, the looping-file
//! timeline, OpenH264, the model) packet by packet, on media time: no clock, no sleeping.

mod common;
mod rtsp_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil::detect::model::{Change, Params};
use vigil::detect::{Analyzer, DetectConfig, Polygon};
use vigil::ingest::file::LoopingFile;
use vigil::ingest::SourceEvent;
use vigil_core::fmp4::Mp4File;
use vigil_core::time::Time;

const SECS: f64 = 12.0;

fn make(dir: &Path, name: &str, filters: &str) -> PathBuf {
    common::motion_media(dir, name, SECS, filters)
}

fn crossing(from: f64, to: f64, x0: f64, x1: f64) -> String {
    common::crossing(from, to, x0, x1)
}

/// Changes the detector reports over one pass of `file`, at media seconds from its start.
fn detect(file: &Path, masks: Vec<Polygon>) -> (Vec<(bool, f64)>, vigil::detect::DetectStats) {
    let cfg = DetectConfig {
        url: None,
        params: Params::default(),
        zones: Vec::new(),
        masks,
    };
    let mut a = Analyzer::new("test", cfg);
    let mut src = LoopingFile::new(Mp4File::open(file).unwrap(), Time(0));
    let mut out = Vec::new();
    let mut note = |c: Option<Change>| match c {
        Some(Change::Started { at }) => out.push((true, at)),
        Some(Change::Ended { at }) => out.push((false, at)),
        None => {}
    };
    note(a.on_event(SourceEvent::Params(src.params()), Time(0)));
    let mut last = Time(0);
    while let Some(p) = src.next_packet() {
        if p.time.0 as f64 / 1e6 >= SECS {
            break;
        }
        last = p.time;
        let t = p.time;
        note(a.on_event(SourceEvent::Packet(p), t));
    }
    note(a.finish(last));
    (out, a.stats())
}

fn left_half() -> Polygon {
    vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
}

#[test]
fn an_object_crossing_is_found_within_a_second_of_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let f = make(dir.path(), "crossing", &crossing(4.0, 8.0, 0.0, 580.0));
    let (changes, stats) = detect(&f, Vec::new());
    assert_eq!(stats.decode_errors, 0, "{stats:?}");
    // Keyframes (1 in 15 here), and every frame only while a start is being confirmed.
    assert!(stats.frames_skipped >= 150, "{stats:?}");
    assert!(stats.frames_decoded >= 15, "{stats:?}");
    eprintln!("crossing 4.0-8.0 s: {changes:?}");
    assert_eq!(changes.len(), 2, "one start and its end: {changes:?}");
    let (on, start) = changes[0];
    assert!(
        on && (4.0..=5.0).contains(&start),
        "start {start} vs truth 4.0"
    );
    let (on, end) = changes[1];
    assert!(!on && (8.0..=10.5).contains(&end), "end {end} vs truth 8.0");
}

#[test]
fn noise_slow_light_and_a_brightness_step_raise_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, chain) in [
        ("heavy-noise", "[bg]noise=alls=40:allf=t+u[out]".to_owned()),
        (
            "slow-light",
            "[bg]eq=brightness='-0.25+t*0.04':eval=frame[out]".to_owned(),
        ),
        (
            "brightness-step",
            "[bg]eq=brightness='if(gte(t,6),0.3,0)':eval=frame[out]".to_owned(),
        ),
    ] {
        let chain = format!("{chain};[box]nullsink");
        let f = make(dir.path(), name, &chain);
        let (changes, stats) = detect(&f, Vec::new());
        assert!(changes.is_empty(), "{name}: {changes:?}");
        // Nothing moved: only the keyframes were decoded, each one analysed.
        assert!(stats.frames_analyzed >= 11, "{name}: {stats:?}");
        assert!(stats.frames_skipped >= 150, "{name}: {stats:?}");
    }
}

#[test]
fn an_object_in_a_masked_area_raises_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The box crosses the left half only.
    let f = make(dir.path(), "masked", &crossing(4.0, 8.0, 0.0, 250.0));
    let (changes, _) = detect(&f, vec![left_half()]);
    assert!(changes.is_empty(), "masked: {changes:?}");
    let (changes, _) = detect(&f, Vec::new());
    assert_eq!(changes.len(), 2, "and found without the mask: {changes:?}");
}

#[test]
fn an_h265_detect_stream_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("h265.mp4");
    std::fs::write(&f, common::SAMPLE_H265).unwrap();
    let (changes, stats) = detect(&f, Vec::new());
    assert!(changes.is_empty());
    assert_eq!(stats.state, "unsupported");
    let msg = stats.message.unwrap();
    assert!(msg.contains("H.265") && msg.contains("detect_url"), "{msg}");
    assert_eq!(stats.frames_decoded, 0);
}

#[test]
fn corrupt_packets_are_skipped_to_the_next_keyframe() {
    let dir = tempfile::tempdir().unwrap();
    let f = make(dir.path(), "crossing", &crossing(4.0, 8.0, 0.0, 580.0));
    let mut a = Analyzer::new(
        "test",
        DetectConfig {
            url: None,
            params: Params::default(),
            zones: Vec::new(),
            masks: Vec::new(),
        },
    );
    let mut src = LoopingFile::new(Mp4File::open(&f).unwrap(), Time(0));
    a.on_event(SourceEvent::Params(src.params()), Time(0));
    let mut starts = Vec::new();
    let mut n = 0u32;
    while let Some(mut p) = src.next_packet() {
        let t = p.time.0 as f64 / 1e6;
        if t >= SECS {
            break;
        }
        n += 1;
        // The keyframes from 1 s to 3 s and from 5 s to 7 s (those are what is decoded while
        // nothing moves, and while a motion goes on) lose bytes from their middle (a slice
        // cut) or have their payload scrambled with the lengths intact.
        let hit = ((1.0..3.0).contains(&t) || (5.0..7.0).contains(&t)) && p.keyframe;
        if hit {
            let mut d = p.data.to_vec();
            if n.is_multiple_of(2) && d.len() > 40 {
                d.drain(d.len() / 2..d.len() / 2 + 20);
            } else {
                for b in d.iter_mut().skip(8).step_by(7) {
                    *b ^= 0x5a;
                }
            }
            p.data = d.into();
        }
        let time = p.time;
        if let Some(Change::Started { at }) = a.on_event(SourceEvent::Packet(p), time) {
            starts.push(at);
        }
    }
    let stats = a.stats();
    assert!(stats.decode_errors > 0, "{stats:?}");
    assert!(
        stats.frames_decoded >= 10,
        "decoding went on after the bad stretches: {stats:?}"
    );
    // The garbage may look like motion for a moment; the real crossing is still found.
    assert!(
        starts.iter().any(|s| (4.0..=5.0).contains(s)),
        "the crossing at 4 s: {starts:?}"
    );
}

fn get(addr: &str, path: &str) -> serde_json::Value {
    let (st, _, body) = common::http(addr, "GET", path, &[], b"");
    assert_eq!(st, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_camera_with_detect_records_what_it_sees_with_its_pre_roll() {
    let dir = tempfile::tempdir().unwrap();
    let f = make(dir.path(), "crossing", &crossing(4.0, 8.0, 0.0, 580.0));
    let h265 = dir.path().join("h265.mp4");
    std::fs::write(&h265, common::SAMPLE_H265).unwrap();
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{d}\"\n[defaults]\npre_buffer_secs = 2\npost_buffer_secs = 1\n\
         [[camera]]\nname = \"yard\"\nurl = \"file:{f}\"\ndetect = true\n\
         [[camera]]\nname = \"hevc\"\nurl = \"file:{h}\"\n",
        d = dir.path().display(),
        f = f.display(),
        h = h265.display()
    );
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, cfg).unwrap();
    let run = common::RunProcess::start(&path);
    let a = run.addr.clone();
    let clip = common::poll_until(
        "a clip from the detector",
        std::time::Duration::from_secs(40),
        || {
            let r = get(&a, "/api/recordings?camera=yard");
            r["recordings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["status"] == "complete")
                .cloned()
        },
    );
    let ev = get(&a, "/api/events?camera=yard");
    let ev = &ev["events"][0];
    assert_eq!(ev["source"], "detector", "{ev}");
    assert_eq!(ev["kind"], "motion");
    // The pre-roll is counted from the frame that showed the motion.
    let pre = clip["pre_roll_secs"].as_f64().unwrap();
    assert!(pre >= 1.9, "{clip}");
    // The crossing lasts 4 s: the clip holds it with its pre-roll.
    assert!(clip["duration_secs"].as_f64().unwrap() >= 5.5, "{clip}");
    let cams = get(&a, "/api/cameras");
    let d = &cams["cameras"][0]["detect"];
    assert_eq!(d["state"], "detecting", "{d}");
    assert!(d["events"].as_u64() >= Some(1), "{d}");
    assert_eq!(d["decode_errors"], 0, "{d}");
    let (_, facts) = common::download_clip(&a, &clip, dir.path(), "got.mp4");
    assert!(facts.first_video_packet_key);

    // Its picture: a JPEG of the motion's moment, the box coming in at the left.
    let thumb = format!("/api/recordings/{}/thumbnail.jpg", clip["id"]);
    let (st, h, jpg) = common::http(&a, "GET", &thumb, &[], b"");
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&jpg));
    assert_eq!(common::header(&h, "content-type"), Some("image/jpeg"));
    let (w, hgt, bright) = white_share(&jpg, dir.path());
    assert_eq!((w, hgt), (320, 180));
    assert!(bright > 0.003, "the box is in the picture: {bright}");
    // The camera's newest keyframe, full size; an H.265 camera says why it has none.
    let (st, _, snap) = common::http(&a, "GET", "/api/cameras/yard/snapshot.jpg", &[], b"");
    assert_eq!(st, 200);
    assert_eq!(white_share(&snap, dir.path()).0, 640);
    let (st, _, body) = common::http(&a, "GET", "/api/cameras/hevc/snapshot.jpg", &[], b"");
    assert_eq!(st, 415);
    assert!(String::from_utf8_lossy(&body).contains("H.265"));
    // Deleted with its clip.
    let pictures = || {
        let mut n = 0;
        for mp4 in common::mp4s_under(&dir.path().join("clips")) {
            n += usize::from(mp4.with_extension("jpg").exists());
        }
        n
    };
    assert!(pictures() >= 1);
    let (st, _, _) = common::http(
        &a,
        "DELETE",
        &format!("/api/recordings/{}", clip["id"]),
        &[],
        b"",
    );
    assert_eq!(st, 200);
    let (st, _, _) = common::http(&a, "GET", &thumb, &[], b"");
    assert_eq!(st, 404);
    let left: Vec<_> = common::files_under(&dir.path().join("clips"), "jpg")
        .into_iter()
        .filter(|j| !j.with_extension("mp4").exists())
        .collect();
    assert!(left.is_empty(), "pictures without their clip: {left:?}");
    run.stop();
}

/// A JPEG's size and the share of its pixels that are near white (ffmpeg decodes it to grey).
fn white_share(jpg: &[u8], dir: &Path) -> (u64, u64, f64) {
    assert_eq!(&jpg[..2], &[0xff, 0xd8], "a JPEG");
    let f = dir.join("pic.jpg");
    std::fs::write(&f, jpg).unwrap();
    let p = common::probe(&f);
    let s = &p["streams"][0];
    let (w, h) = (s["width"].as_u64().unwrap(), s["height"].as_u64().unwrap());
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&f)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let bright = out.stdout.iter().filter(|v| **v >= 200).count();
    (w, h, bright as f64 / out.stdout.len() as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onvif_and_detector_events_go_into_one_recorder() {
    use std::time::Duration;
    use vigil_onvif_sim::{SimCamera as OnvifCam, SimConfig, Vendor};
    let dir = tempfile::tempdir().unwrap();
    let f = make(dir.path(), "crossing", &crossing(4.0, 8.0, 0.0, 580.0));
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    // The recorded stream is the bundled sample; the detect stream the crossing (a session of
    // its own).
    let app = common::onvif_app(
        dir.path(),
        &sim.device_url(),
        "secret",
        "pre_buffer_secs = 1\npost_buffer_secs = 1",
        &format!("detect = true\ndetect_url = \"file:{}\"", f.display()),
    );
    common::onvif_ready(&app, 1.0).await;
    let cam = app.handle().camera("cam").unwrap();
    let c = cam.clone();
    common::until_async(
        "the detector sees the crossing",
        Duration::from_secs(30),
        || c.detect_stats().unwrap().motion.then_some(()),
    )
    .await;
    sim.motion(true);
    let h = app.handle();
    let events = || {
        h.catalog()
            .events(&vigil::catalog::EventFilter::default())
            .unwrap()
    };
    common::until_async("the ONVIF event", Duration::from_secs(10), || {
        events().iter().any(|e| e.source == "onvif").then_some(())
    })
    .await;
    sim.motion(false);
    let clips = common::until_async("the clip closed", Duration::from_secs(30), || {
        let c = h.catalog().clips(&Default::default()).unwrap();
        (!c.is_empty()
            && c.iter()
                .all(|c| c.status == vigil::clips::ClipStatus::Complete))
        .then_some(c)
    })
    .await;
    let first = clips.last().unwrap();
    let ev = events();
    let of = |src: &str| {
        ev.iter()
            .find(|e| e.source == src)
            .unwrap_or_else(|| panic!("no {src} event: {ev:?}"))
    };
    assert_eq!(of("detector").clip_ids, vec![first.id], "{ev:?}");
    assert_eq!(
        of("onvif").clip_ids,
        vec![first.id],
        "one clip for both: {ev:?}"
    );
    app.shutdown().await;
}

/// Detection settings through the API: turned on (the camera restarts with a detector), a mask
/// changed live (the same detector goes on), all kept in the catalog over a restart of vigil.
#[test]
fn detection_settings_change_through_the_api_and_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    // The box crosses the left half only.
    let f = make(dir.path(), "left", &crossing(4.0, 8.0, 0.0, 250.0));
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{d}\"\n[defaults]\npre_buffer_secs = 2\npost_buffer_secs = 1\n\
         [[camera]]\nname = \"yard\"\nurl = \"file:{f}\"\n",
        d = dir.path().display(),
        f = f.display(),
    );
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, cfg).unwrap();
    let run = common::RunProcess::start(&path);
    let a = run.addr.clone();
    let post = |body: serde_json::Value| {
        let (st, _, b) = common::http(
            &a,
            "POST",
            "/api/cameras/yard/detect",
            &[],
            body.to_string().as_bytes(),
        );
        (st, serde_json::from_slice::<serde_json::Value>(&b).unwrap())
    };
    let d = get(&a, "/api/cameras/yard/detect");
    assert_eq!(d["detect"], false, "{d}");
    assert_eq!(d["detect_threshold"], 20);
    assert!(get(&a, "/api/cameras")["cameras"][0]["detect"].is_null());

    // A wrong value is refused naming its field, and changes nothing.
    let (st, e) = post(serde_json::json!({"detect": true, "detect_threshold": 0}));
    assert_eq!(st, 400);
    assert!(
        e["error"].as_str().unwrap().contains("detect_threshold"),
        "{e}"
    );
    assert_eq!(get(&a, "/api/cameras/yard/detect")["detect"], false);

    // On, with the left half masked: the camera gets a detector that sees the box and ignores it.
    let (st, d) = post(serde_json::json!({"detect": true, "detect_masks": [left_half()]}));
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["detect_masks"][0].as_array().unwrap().len(), 4);
    let det = || get(&a, "/api/cameras")["cameras"][0]["detect"].clone();
    // More than a whole pass of the 12 s file analysed (a keyframe a second, and the bursts).
    let before = common::poll_until(
        "a pass analysed",
        std::time::Duration::from_secs(60),
        || {
            let d = det();
            (d["frames_analyzed"].as_u64() >= Some(14)).then_some(d)
        },
    );
    assert_eq!(before["state"], "detecting", "{before}");
    assert_eq!(before["events"], 0, "masked: {before}");

    // The mask taken away, live: the same detector (its counts go on) finds the crossing.
    let (st, d) = post(serde_json::json!({"detect_masks": null}));
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["detect_masks"], serde_json::json!([]));
    let after = common::poll_until(
        "the crossing found",
        std::time::Duration::from_secs(60),
        || {
            let d = det();
            (d["events"].as_u64() >= Some(1)).then_some(d)
        },
    );
    assert!(
        after["frames_analyzed"].as_u64() > before["frames_analyzed"].as_u64(),
        "not restarted: {before} then {after}"
    );
    let ev = get(&a, "/api/events?camera=yard");
    assert_eq!(ev["events"][0]["source"], "detector", "{ev}");
    run.stop();

    // Kept: a new vigil with the same config file detects, mask-free.
    let run = common::RunProcess::start(&path);
    let d = get(&run.addr, "/api/cameras/yard/detect");
    assert_eq!(d["detect"], true, "{d}");
    assert_eq!(d["detect_masks"], serde_json::json!([]));
    assert!(!get(&run.addr, "/api/cameras")["cameras"][0]["detect"].is_null());
    run.stop();
}

/// A camera with only an ONVIF address and `detect = true`: vigil records the main profile's
/// stream and detects on the sub-stream profile (the smallest H.264 one), each an RTSP session
/// of its own from the real test server; a camera whose ONVIF has no sub-stream detects on its
/// main stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_onvif_the_detector_decodes_the_sub_stream() {
    use std::time::Duration;
    use vigil_onvif_sim::{SimCamera as OnvifCam, SimConfig, Vendor};
    let dir = tempfile::tempdir().unwrap();
    let f = make(dir.path(), "crossing", &crossing(4.0, 8.0, 0.0, 580.0));
    let rtsp =
        rtsp_support::RtspServer::start(&[("main", "h264.mp4"), ("sub", f.to_str().unwrap())]);
    let mut with_sub = SimConfig::new(Vendor::Hikvision);
    with_sub.rtsp_url = rtsp.url("main");
    with_sub.sub_rtsp_url = Some(rtsp.url("sub"));
    let two = OnvifCam::start(with_sub).await.unwrap();
    let mut main_only = SimConfig::new(Vendor::Axis);
    main_only.rtsp_url = rtsp.url("sub");
    let one = OnvifCam::start(main_only).await.unwrap();
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{d}\"\n[defaults]\npre_buffer_secs = 1\npost_buffer_secs = 1\n\
         [[camera]]\nname = \"two\"\nonvif = \"{a}\"\nusername = \"admin\"\npassword = \"secret\"\ndetect = true\n\
         [[camera]]\nname = \"one\"\nonvif = \"{b}\"\nusername = \"admin\"\npassword = \"secret\"\ndetect = true\n",
        d = dir.path().display(),
        a = two.device_url(),
        b = one.device_url(),
    );
    let app = vigil::runtime::Runtime::start(
        vigil::config::Config::parse(&cfg).unwrap(),
        std::sync::Arc::new(vigil_core::time::SystemClock),
    )
    .unwrap();
    let h = app.handle();
    let stats = |name: &str| h.camera(name).unwrap().detect_stats().unwrap();
    let found = common::until_async(
        "the crossing found on the sub-stream",
        Duration::from_secs(40),
        || {
            let s = stats("two");
            (s.events >= 1).then_some(s)
        },
    )
    .await;
    assert!(
        found
            .stream
            .starts_with("ONVIF sub-stream rtsp://127.0.0.1:"),
        "{found:?}"
    );
    assert!(found.stream.ends_with("/sub"), "{found:?}");
    // The sub-stream's 640x360 analysed at 160x90; the recorded stream is the main profile's.
    assert_eq!((found.width, found.height), (160, 90), "{found:?}");
    let rec = common::until_async("the main stream up", Duration::from_secs(20), || {
        let s = h.camera("two").unwrap().status();
        s.stream_up.then_some(s)
    })
    .await;
    assert_eq!(
        (rec.width, rec.height),
        (320, 240),
        "the main profile (h264.mp4) is recorded"
    );
    let ev = h
        .catalog()
        .events(&vigil::catalog::EventFilter::default())
        .unwrap();
    assert!(
        ev.iter()
            .any(|e| e.camera == "two" && e.source == "detector"),
        "{ev:?}"
    );
    // No sub-stream profile: the main stream it is (and it finds the crossing there too).
    let main = common::until_async(
        "the crossing found on the main stream",
        Duration::from_secs(40),
        || {
            let s = stats("one");
            (s.events >= 1).then_some(s)
        },
    )
    .await;
    assert!(main.stream.starts_with("main stream"), "{main:?}");
    app.shutdown().await;
}

/// Every clip gets its picture: the continuations of a long motion (rollovers at
/// `max_clip_secs`, no pre-roll of their own) from their first keyframe, and an H.265 camera's
/// clips (frames vigil can't decode) from its H.264 detect stream.
#[test]
fn every_clip_gets_a_picture_rollovers_and_h265_with_a_detect_stream() {
    let dir = tempfile::tempdir().unwrap();
    let f = make(dir.path(), "crossing", &crossing(4.0, 8.0, 0.0, 580.0));
    let h265 = dir.path().join("h265.mp4");
    std::fs::write(&h265, common::SAMPLE_H265).unwrap();
    let h264 = dir.path().join("h264.mp4");
    std::fs::write(&h264, common::SAMPLE_H264).unwrap();
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{d}\"\n[defaults]\npre_buffer_secs = 2\npost_buffer_secs = 1\n\
         [[camera]]\nname = \"long\"\nurl = \"file:{a}\"\nmax_clip_secs = 2\n\
         [[camera]]\nname = \"hevc\"\nurl = \"file:{h}\"\ndetect = true\ndetect_url = \"file:{f}\"\n",
        d = dir.path().display(),
        a = h264.display(),
        h = h265.display(),
        f = f.display(),
    );
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, cfg).unwrap();
    let run = common::RunProcess::start(&path);
    let a = run.addr.clone();
    let complete = |camera: &str, n: usize| {
        common::poll_until(
            &format!("{n} complete clips of {camera}"),
            std::time::Duration::from_secs(60),
            || {
                let r = get(&a, &format!("/api/recordings?camera={camera}"));
                let c: Vec<_> = r["recordings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["status"] == "complete")
                    .cloned()
                    .collect();
                (c.len() >= n).then_some(c)
            },
        )
    };
    let picture = |clip: &serde_json::Value| {
        let path = format!("/api/recordings/{}/thumbnail.jpg", clip["id"]);
        common::poll_until(
            &format!("the picture of clip {}", clip["id"]),
            std::time::Duration::from_secs(20),
            || {
                let (st, _, jpg) = common::http(&a, "GET", &path, &[], b"");
                (st == 200).then_some(jpg)
            },
        )
    };
    // A motion of ~7 s cut into 2 s clips.
    common::post_motion(&a, "long", r#"{"action":"pulse","duration_ms":7000}"#);
    for clip in complete("long", 3) {
        let jpg = picture(&clip);
        assert_eq!(&jpg[..2], b"\xff\xd8", "a JPEG for clip {clip}");
    }
    // The H.265 camera's clip, pictured from the detect stream: the crossing's 640x360 at 320.
    let clip = complete("hevc", 1).remove(0);
    assert_eq!(clip["video_codec"], "h265", "{clip}");
    let (w, h, bright) = white_share(&picture(&clip), dir.path());
    assert_eq!((w, h), (320, 180));
    assert!(bright > 0.003, "the box is in the picture: {bright}");
    // Its snapshot too, from the detect stream, full size.
    let (st, _, snap) = common::http(&a, "GET", "/api/cameras/hevc/snapshot.jpg", &[], b"");
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&snap));
    assert_eq!(white_share(&snap, dir.path()).0, 640);
    run.stop();
}

/// A detect stream vigil can't decode (H.265) is said in words through the API, and the camera
/// records as before.
#[test]
fn an_undecodable_detect_stream_leaves_recording_alone() {
    let dir = tempfile::tempdir().unwrap();
    let h265 = dir.path().join("h265.mp4");
    std::fs::write(&h265, common::SAMPLE_H265).unwrap();
    let h264 = dir.path().join("h264.mp4");
    std::fs::write(&h264, common::SAMPLE_H264).unwrap();
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{d}\"\n[defaults]\npre_buffer_secs = 2\npost_buffer_secs = 1\n\
         [[camera]]\nname = \"odd\"\nurl = \"file:{a}\"\ndetect = true\ndetect_url = \"file:{h}\"\n",
        d = dir.path().display(),
        a = h264.display(),
        h = h265.display(),
    );
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, cfg).unwrap();
    let run = common::RunProcess::start(&path);
    let a = run.addr.clone();
    let d = common::poll_until(
        "the detector refusing H.265",
        std::time::Duration::from_secs(20),
        || {
            let d = get(&a, "/api/cameras")["cameras"][0]["detect"].clone();
            (d["state"] == "unsupported").then_some(d)
        },
    );
    assert!(d["message"].as_str().unwrap().contains("H.265"), "{d}");
    assert_eq!(d["frames_decoded"], 0, "{d}");
    // Recording goes on: a triggered clip, whole, with its pre-roll.
    common::poll_until(
        "a full pre-buffer",
        std::time::Duration::from_secs(20),
        || {
            let b = get(&a, "/api/motion_recording/buffer_stats/odd");
            (b["duration_secs"].as_f64() >= Some(2.0)).then_some(())
        },
    );
    common::post_motion(&a, "odd", r#"{"action":"pulse","duration_ms":1000}"#);
    let clip = common::poll_until("the clip", std::time::Duration::from_secs(30), || {
        get(&a, "/api/recordings?camera=odd")["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["status"] == "complete")
            .cloned()
    });
    assert!(clip["pre_roll_secs"].as_f64().unwrap() >= 1.5, "{clip}");
    let (file, facts) = common::download_clip(&a, &clip, dir.path(), "got.mp4");
    assert!(facts.first_video_packet_key, "{facts:?}");
    assert_eq!(common::decode_errors(&file), "", "decodes whole");
    run.stop();
}
