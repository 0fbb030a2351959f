//! `vigil run` as a user runs it, on the real parts together: the process reads a config file,
//! streams a camera from the RTSP test bed, subscribes to the simulated ONVIF camera's events,
//! records a clip when the camera says motion, and on SIGINT or SIGTERM closes the open clip
//! whole and unsubscribes before it exits. The next start finds that clip complete (closed at
//! shutdown), not recovered.

mod common;
mod rtsp_support;

use std::path::Path;
use std::time::Duration;

use common::*;
use rtsp_support::RtspServer;
use serde_json::Value;
use vigil_onvif_sim::{SimCamera as OnvifCam, SimConfig, Vendor};

const PRE: f64 = 2.0;

fn get(addr: &str, path: &str) -> Value {
    let (status, _, body) = http(addr, "GET", path, &[], b"");
    assert_eq!(
        status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

fn camera(addr: &str) -> Value {
    get(addr, "/api/cameras")["cameras"][0].clone()
}

fn recordings(addr: &str) -> Vec<Value> {
    get(addr, "/api/recordings")["recordings"]
        .as_array()
        .unwrap()
        .clone()
}

/// Sends `sig` to the `vigil run` process and waits for a clean exit.
async fn stop_with(mut run: RunProcess, sig: i32) {
    let (status, log) = tokio::task::spawn_blocking(move || {
        let pid = run.demo.child.id() as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, sig) };
        let st = run.demo.wait_exit(Duration::from_secs(30));
        (st, run.demo.log.join("\n"))
    })
    .await
    .unwrap();
    assert!(status.success(), "exit {status} after signal {sig}:\n{log}");
}

fn write_config(dir: &Path, rtsp: &str, onvif: &str) -> std::path::PathBuf {
    let path = dir.join("vigil.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\n\
             [defaults]\npre_buffer_secs = {PRE}\n# long enough that the clip is still open when the signal comes\npost_buffer_secs = 60\n\n\
             [[camera]]\nname = \"porch\"\nurl = \"{rtsp}\"\nonvif = \"{onvif}\"\n\
             username = \"admin\"\npassword = \"secret\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_run_records_onvif_motion_from_rtsp_and_a_signal_closes_the_clip() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let server = tokio::task::spawn_blocking(|| RtspServer::start(&[("porch", "h264_aac.mp4")]))
        .await
        .unwrap();
    let cfg = write_config(dir.path(), &server.url("porch"), &sim.device_url());

    // Up: streaming, subscribed, and the pre-buffer holds the whole window.
    let c = cfg.clone();
    let run = tokio::task::spawn_blocking(move || RunProcess::start(&c))
        .await
        .unwrap();
    let addr = run.addr.clone();
    let a = addr.clone();
    tokio::task::spawn_blocking(move || {
        poll_until(
            "stream up, subscribed, pre-buffer full",
            Duration::from_secs(30),
            || {
                let cam = camera(&a);
                let full = get(&a, "/api/motion_recording/buffer_stats/porch")["duration_secs"]
                    .as_f64()
                    .unwrap_or(0.0)
                    >= PRE;
                (cam["state"] == "BUFFERING"
                    && cam["stream"]["up"] == true
                    && cam["onvif"]["state"] == "subscribed"
                    && full)
                    .then_some(())
            },
        )
    })
    .await
    .unwrap();

    // The camera says motion: a clip opens, with the pre-roll in it.
    sim.motion(true);
    let a = addr.clone();
    let open = tokio::task::spawn_blocking(move || {
        poll_until("a clip being recorded", Duration::from_secs(10), || {
            let r = recordings(&a);
            (r.len() == 1 && r[0]["status"] == "recording" && camera(&a)["state"] == "RECORDING")
                .then(|| r[0].clone())
        })
    })
    .await
    .unwrap();
    assert_eq!(open["trigger"], "onvif", "{open}");

    // Ctrl-C while recording: a clean exit, the camera unsubscribed, the clip whole.
    stop_with(run, libc::SIGINT).await;
    assert!(
        sim.counters().unsubscribes >= 1,
        "unsubscribed before exiting: {:?}",
        sim.counters()
    );
    let clips = mp4s_under(&dir.path().join("data"));
    assert_eq!(clips.len(), 1, "{clips:?}");
    let facts = check_clip(&clips[0]);
    assert!(facts.first_video_packet_key, "{facts:?}");
    assert_eq!(facts.video_codec, "h264");
    assert_eq!(facts.audio_codec.as_deref(), Some("aac"));
    assert!(facts.duration >= PRE, "{facts:?}");

    // The next start: the clip is complete, closed at shutdown, nothing to recover. SIGTERM then
    // ends that run the same way.
    let c = cfg.clone();
    let run = tokio::task::spawn_blocking(move || RunProcess::start(&c))
        .await
        .unwrap();
    let a = run.addr.clone();
    let r = tokio::task::spawn_blocking(move || recordings(&a))
        .await
        .unwrap();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["id"], open["id"]);
    assert_eq!(r[0]["status"], "complete", "{}", r[0]);
    assert_eq!(r[0]["close_reason"], "shutdown", "{}", r[0]);
    assert!(r[0]["pre_roll_secs"].as_f64().unwrap() >= PRE, "{}", r[0]);
    assert!(
        run.demo.log.iter().all(|l| !l.contains("recovered clip")),
        "nothing recovered at the second start:\n{}",
        run.demo.log.join("\n")
    );
    sim.wait_for(Duration::from_secs(20), |c| c.subscriptions_created >= 2)
        .await
        .expect("the second run subscribes again");
    stop_with(run, libc::SIGTERM).await;
    assert!(
        sim.counters().unsubscribes >= 2,
        "unsubscribed on SIGTERM too: {:?}",
        sim.counters()
    );
    assert_eq!(mp4s_under(&dir.path().join("data")).len(), 1);
    drop(server);
}
