//! Camera discovery (WS-Discovery) against simulated ONVIF cameras, inside a network namespace
//! this test makes for itself (`unshare --net`: only a loopback, with a multicast route on
//! it), so that no Probe ever reaches a real network. The test runs itself again in there:
//! the library call, `vigil discover` and `GET`/`POST /api/discover` of a `vigil run`.

mod common;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use vigil_onvif_sim::discovery::{respond, Announce};
use vigil_onvif_sim::{SimCamera, SimConfig, Vendor};

const INSIDE: &str = "VIGIL_TEST_NETNS";

/// Runs `test` again inside a new network namespace; true when this is that run.
fn in_own_namespace(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        let up = |args: &[&str]| {
            let st = Command::new("ip")
                .args(args)
                .status()
                .expect("ip (iproute2) runs");
            assert!(st.success(), "ip {args:?}");
        };
        up(&["link", "set", "lo", "up"]);
        up(&["link", "set", "lo", "multicast", "on"]);
        up(&["route", "add", "239.0.0.0/8", "dev", "lo"]);
        return true;
    }
    let out = Command::new("unshare")
        .args(["--net", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("unshare (util-linux) runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{test} inside its network namespace failed ({}); unshare --net needs root (CAP_SYS_ADMIN):\n{text}",
        out.status
    );
    // It did run (a filter that matched nothing would pass too).
    assert!(text.contains("1 passed"), "{text}");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_two_simulated_cameras_in_a_namespace() {
    if !in_own_namespace("discovery_finds_two_simulated_cameras_in_a_namespace") {
        return;
    }
    let mut hik = SimConfig::new(Vendor::Hikvision);
    hik.rtsp_url = "rtsp://127.0.0.1:8554/hik/main".into();
    hik.sub_rtsp_url = Some("rtsp://127.0.0.1:8554/hik/sub".into());
    let mut axis = SimConfig::new(Vendor::Axis);
    axis.rtsp_url = "rtsp://127.0.0.1:8554/axis".into();
    let cams = [
        (
            SimCamera::start(hik).await.unwrap(),
            "Hikvision DS-2CD2043G2-I",
            "DS-2CD2043G2-I",
        ),
        (
            SimCamera::start(axis).await.unwrap(),
            "AXIS P3245-LVE",
            "P3245-LVE",
        ),
    ];
    let lo = std::net::Ipv4Addr::LOCALHOST;
    let mut responders = Vec::new();
    for (i, (c, name, hw)) in cams.iter().enumerate() {
        responders.push(
            respond(
                Announce {
                    endpoint: format!("urn:uuid:00000000-0000-4000-8000-00000000000{i}"),
                    device_url: c.device_url(),
                    name: (*name).into(),
                    hardware: (*hw).into(),
                },
                lo,
            )
            .unwrap(),
        );
    }

    // The library: both found, with their profiles when given the password.
    let opts = vigil::discover::Options {
        interface: Some("lo".into()),
        username: Some("admin".into()),
        password: Some("secret".into()),
        wait: Some(Duration::from_millis(1500)),
    };
    let clock = std::sync::Arc::new(vigil_core::time::SystemClock);
    let mut found = vigil::discover::discover(&opts, clock.clone(), &[])
        .await
        .unwrap();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(found.len(), 2, "{found:?}");
    let (axis, hik) = (&found[0], &found[1]);
    assert_eq!(hik.name.as_deref(), Some("Hikvision DS-2CD2043G2-I"));
    assert_eq!(hik.hardware.as_deref(), Some("DS-2CD2043G2-I"));
    assert_eq!(hik.onvif.as_deref(), Some(cams[0].0.device_url().as_str()));
    let p = hik.profiles.as_ref().unwrap();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(
        (p[0].role, p[0].uri.as_deref()),
        (Some("main"), Some("rtsp://127.0.0.1:8554/hik/main"))
    );
    assert_eq!(
        (p[1].role, p[1].uri.as_deref()),
        (Some("sub"), Some("rtsp://127.0.0.1:8554/hik/sub"))
    );
    assert_eq!((p[1].width, p[1].height), (Some(640), Some(360)));
    let p = axis.profiles.as_ref().unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].uri.as_deref(), Some("rtsp://127.0.0.1:8554/axis"));
    // A wrong password: the devices, and why their profiles are missing.
    let wrong = vigil::discover::Options {
        password: Some("nope".into()),
        ..opts.clone()
    };
    let found = vigil::discover::discover(&wrong, clock.clone(), &[])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert!(
        found
            .iter()
            .all(|d| d.profiles.is_none() && d.profiles_error.is_some()),
        "{found:?}"
    );
    // No such interface: said.
    let bad = vigil::discover::Options {
        interface: Some("eth9".into()),
        ..opts.clone()
    };
    let e = vigil::discover::discover(&bad, clock, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("eth9") && e.contains("lo"), "{e}");

    // The command.
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args([
                "discover",
                "--interface",
                "lo",
                "--wait",
                "1.5",
                "--username",
                "admin",
                "--password",
                "secret",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Hikvision DS-2CD2043G2-I") && text.contains("AXIS P3245-LVE"),
        "{text}"
    );
    assert!(text.contains("rtsp://127.0.0.1:8554/hik/sub"), "{text}");

    // The API of a running vigil (one camera already added by its ONVIF address).
    let dir = tempfile::tempdir().unwrap();
    let hik_url = cams[0].0.device_url();
    let config = common::write_run_config(dir.path(), "discovery_interface = \"lo\"", "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "name = \"front\"",
        &format!("name = \"front\"\nonvif = \"{hik_url}\""),
    );
    std::fs::write(&config, text).unwrap();
    let run = tokio::task::spawn_blocking(move || common::RunProcess::start(&config))
        .await
        .unwrap();
    let a = run.addr.clone();
    let (st, v) = tokio::task::spawn_blocking(move || {
        let (st, _, b) = common::http(&a, "GET", "/api/discover?wait_secs=1.5", &[], b"");
        let get: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
        let body = br#"{"username": "admin", "password": "secret", "wait_secs": 1.5}"#;
        let (st2, _, b) = common::http(&a, "POST", "/api/discover", &[], body);
        let post: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
        let (st3, _, _) = common::http(&a, "GET", "/api/discover?password=x", &[], b"");
        ((st, st2, st3), (get, post))
    })
    .await
    .unwrap();
    assert_eq!(st, (200, 200, 400), "{v:?}");
    let (get, post) = v;
    let devices = get["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{get}");
    assert!(devices.iter().all(|d| d["profiles"].is_null()), "{get}");
    let hik = post["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["onvif"] == hik_url.as_str())
        .unwrap_or_else(|| panic!("{post}"));
    assert_eq!(hik["camera"], "front", "already a camera: {hik}");
    assert_eq!(hik["profiles"][1]["role"], "sub", "{hik}");
    tokio::task::spawn_blocking(move || run.stop())
        .await
        .unwrap();
    for r in responders {
        r.abort();
    }
}
