//! `vigil check --config FILE`: validates the file and probes each camera, saying what works.

mod common;

use common::*;
use vigil_onvif_sim::{SimCamera as OnvifCam, SimConfig, Vendor};

fn check(config: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["check", "--config"])
        .arg(config)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probes_onvif_and_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Axis)).await.unwrap();
    let video = dir.path().join("v.mp4");
    std::fs::write(&video, SAMPLE_H264_AAC).unwrap();
    let cfg = |password: &str| {
        let p = dir.path().join(format!("{password}.toml"));
        std::fs::write(
            &p,
            format!(
                "[[camera]]\nname = \"door\"\nurl = \"file:{}\"\nonvif = \"{}\"\nusername = \"admin\"\npassword = \"{password}\"\n",
                video.display(),
                sim.device_url()
            ),
        )
        .unwrap();
        p
    };
    let good = cfg("secret");
    let (ok, text) = tokio::task::spawn_blocking(move || check(&good))
        .await
        .unwrap();
    assert!(ok, "{text}");
    for want in [
        "config ok: 1 cameras",
        "door: ONVIF ok",
        "door: ONVIF events ok",
        "door: ONVIF stream URI rtsp://",
        "door: file ok: h264 640x360 + AAC",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    let bad = cfg("badpass-7781");
    let (ok, text) = tokio::task::spawn_blocking(move || check(&bad))
        .await
        .unwrap();
    assert!(!ok, "{text}");
    assert!(
        text.contains("door: ONVIF FAILED") && text.contains("NotAuthorized"),
        "{text}"
    );
    assert!(
        !text.contains("badpass-7781"),
        "the password is never printed: {text}"
    );
}

#[test]
fn check_refuses_a_bad_config_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[[camera]]\nname = \"a\"\nurl = \"rtsp://h/\"\npre_buffer_secs = 99\n",
    )
    .unwrap();
    let (ok, text) = check(&p);
    assert!(!ok);
    assert!(text.contains("camera[0].pre_buffer_secs"), "{text}");
}

#[test]
fn check_refuses_a_motion_topic_that_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[[camera]]\nname = \"a\"\nonvif = \"http://127.0.0.1:9/onvif/device_service\"\n\
         onvif_topics = [\"tns1:RuleEngine//CellMotionDetector\"]\n",
    )
    .unwrap();
    let (ok, text) = check(&p);
    assert!(!ok, "{text}");
    assert!(text.contains("camera[0].onvif_topics[0]"), "{text}");
    assert!(
        text.contains("tns1:RuleEngine//CellMotionDetector"),
        "{text}"
    );
    // Refused before any probe: the address above is never contacted.
    assert!(!text.contains("ONVIF"), "{text}");
}
