//! The web server can never take the recorder down: tried through the real `vigil run` process
//! as a careless client or an attacker on the LAN would (docs/http-hardening.md has the table).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Raises this test process's own open-files limit so that it can hold many connections.
fn raise_own_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain struct in, plain struct out.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < want.min(lim.rlim_max) {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    assert!(
        lim.rlim_cur >= want,
        "this test needs {want} open files: {}",
        lim.rlim_cur
    );
}

/// `vigil run` on `config`, its open-files limit (soft and hard) set to `nofile` if given.
fn start(config: &Path, nofile: Option<u64>) -> RunProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(["run", "--config"]).arg(config);
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut demo = DemoProcess::spawn(cmd);
    let line = demo.wait_for(&["status page on http://"], Duration::from_secs(30));
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    RunProcess { demo, addr }
}

fn json(addr: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (st, _, b) = http(addr, method, path, &[], body.as_bytes());
    (st, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn buffering(addr: &str, cams: &[&str]) {
    poll_until("pre-buffers full", Duration::from_secs(30), || {
        cams.iter()
            .all(|c| {
                let (_, b) = json(
                    addr,
                    "GET",
                    &format!("/api/motion_recording/buffer_stats/{c}"),
                    "",
                );
                b["duration_secs"].as_f64().unwrap_or(0.0) >= 2.0
            })
            .then_some(())
    });
}

fn recordings(addr: &str) -> Vec<Value> {
    json(addr, "GET", "/api/recordings", "").1["recordings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn vm_rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Whether the server closed `s` (EOF or reset) within `limit`; bytes it sent are returned too.
fn closed_within(s: &mut TcpStream, limit: Duration) -> (bool, Vec<u8>) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return (true, got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (true, got),
        }
    }
    (false, got)
}

#[test]
fn idle_connections_under_a_1024_files_limit_leave_recording_alone() {
    raise_own_limit(1_400);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(dir.path(), "", "");
    let run = start(&cfg, Some(1024));
    let addr = run.addr.clone();
    buffering(&addr, &["front", "back%20yard"]);

    // 1,100 connections that send nothing, held open.
    let flood: Vec<TcpStream> = (0..1_100)
        .map(|_| TcpStream::connect(&addr).expect("the kernel's backlog takes it"))
        .collect();
    // Motion on both cameras during the hold: the API gets through (the longest idle
    // connection makes room), and both clips are written.
    for cam in ["front", "back%20yard"] {
        let (st, v) = json(
            &addr,
            "POST",
            &format!("/api/cameras/{cam}/motion"),
            r#"{"action":"pulse","duration_ms":1500}"#,
        );
        assert_eq!(st, 202, "{v}");
    }
    let clips = poll_until(
        "two complete clips during the hold",
        Duration::from_secs(30),
        || {
            let r = recordings(&addr);
            (r.len() == 2 && r.iter().all(|c| c["status"] == "complete")).then_some(r)
        },
    );
    let (st, _, _) = http(&addr, "GET", "/healthz", &[], b"");
    assert_eq!(st, 200, "healthz during the hold");
    drop(flood);
    poll_until("/healthz after the hold", Duration::from_secs(10), || {
        (http(&addr, "GET", "/healthz", &[], b"").0 == 200).then_some(())
    });
    for c in &clips {
        let id = c["id"].as_i64().unwrap();
        let (st, _, body) = http(
            &addr,
            "GET",
            &format!("/api/recordings/{id}/file"),
            &[],
            b"",
        );
        assert_eq!(st, 200);
        let p = dir.path().join(format!("{id}.mp4"));
        std::fs::write(&p, body).unwrap();
        let f = check_clip(&p);
        assert!(f.first_video_packet_key && f.duration >= 2.0, "{f:?}");
    }
    let mut run = run;
    let pid = run.demo.child.id() as i32;
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(run.demo.wait_exit(Duration::from_secs(30)).success());
    let log = run.demo.log.join("\n");
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(
        log.contains("soft limit 1024"),
        "the limits are logged: {log}"
    );
}

#[test]
fn slowloris_stalled_bodies_and_big_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(
        dir.path(),
        "header_timeout_secs = 1\nbody_timeout_secs = 2\n",
        "",
    );
    let run = start(&cfg, None);
    let addr = run.addr.clone();

    // Slowloris: a header that never ends is closed after the header timeout (1 s here), well
    // before the idle timeout (60 s).
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let (closed, _) = closed_within(&mut s, Duration::from_secs(20));
    assert!(closed, "a header trickling in is cut off");

    // A stalled body: 408 after the body timeout, and the connection closed.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(
        format!(
            "POST /api/cameras/front/motion HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"action\""
        )
        .as_bytes(),
    )
    .unwrap();
    let (closed, got) = closed_within(&mut s, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&got);
    assert!(closed && text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error\""), "{text}");

    // 500 connections each declaring or streaming a 1 MB body and stalling: refused before
    // it is read (413), memory hardly moves.
    let pid = run.demo.child.id();
    let before = vm_rss_kib(pid);
    raise_own_limit(700);
    let mut held = Vec::new();
    for i in 0..500 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_nonblocking(true).unwrap();
        let head = if i % 2 == 0 {
            format!("POST /api/cameras/front/motion HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
        } else {
            format!("POST /api/cameras/front/motion HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nF4240\r\n")
        };
        let _ = s.write_all(head.as_bytes());
        // As much of the megabyte as the socket takes without waiting, then silence.
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < 1_000_000 {
            match s.write(&chunk) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        held.push(s);
    }
    let mut answered = vec![false; held.len()];
    poll_until(
        "the server answered every one",
        Duration::from_secs(60),
        || {
            for (s, done) in held.iter_mut().zip(answered.iter_mut()) {
                if *done {
                    continue;
                }
                let mut buf = [0u8; 512];
                match s.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Ok(n) if n > 0 => {
                        // The answer is a 413 before the body is read.
                        let head = String::from_utf8_lossy(&buf[..n]);
                        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
                        *done = true;
                    }
                    _ => *done = true, // closed (reset) right after the 413
                }
            }
            answered.iter().all(|d| *d).then_some(())
        },
    );
    let after = vm_rss_kib(pid);
    assert!(
        after.saturating_sub(before) < 64 * 1024,
        "RSS {before} KiB -> {after} KiB with 500 stalled 1 MB bodies"
    );
    drop(held);
    // And the server still answers.
    assert_eq!(http(&addr, "GET", "/healthz", &[], b"").0, 200);
    run.stop();
}

#[test]
fn sigterm_with_hanging_clients_exits_in_time_with_the_clip_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(dir.path(), "", "");
    let mut run = start(&cfg, None);
    let addr = run.addr.clone();
    buffering(&addr, &["front"]);
    let (st, v) = json(
        &addr,
        "POST",
        "/api/cameras/front/motion",
        r#"{"action":"start"}"#,
    );
    assert_eq!(st, 202, "{v}");
    poll_until("recording", Duration::from_secs(10), || {
        (recordings(&addr).first()?["status"] == "recording").then_some(())
    });
    // Ten clients hanging on: five mid-header, five that sent nothing.
    let mut hanging = Vec::new();
    for i in 0..10 {
        let mut s = TcpStream::connect(&addr).unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /api/recordings HTTP/1.1\r\nHost: x")
                .unwrap();
        }
        hanging.push(s);
    }
    let pid = run.demo.child.id() as i32;
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = run.demo.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{}", run.demo.log.join("\n"));
    let clips = mp4s_under(&dir.path().join("clips"));
    assert_eq!(clips.len(), 1, "{clips:?}");
    let f = check_clip(&clips[0]);
    assert!(f.first_video_packet_key && f.duration >= 2.0, "{f:?}");
    drop(hanging);
}

#[test]
fn cross_site_requests_and_foreign_hosts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(dir.path(), "hosts = [\"nvr.test\"]", "");
    let run = start(&cfg, None);
    let addr = run.addr.clone();
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let config_path = "/api/motion_recording/config/front";
    let (_, before) = json(&addr, "GET", config_path, "");

    // A cross-site form or text/plain POST: 415, nothing saved.
    let body = br#"{"enabled":false}"#;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (st, _, b) = http(&addr, "POST", config_path, &[("Content-Type", ct)], body);
        assert_eq!(st, 415, "{ct}: {}", String::from_utf8_lossy(&b));
        assert!(serde_json::from_slice::<Value>(&b).unwrap()["error"].is_string());
    }
    let (st, _, _) = http(
        &addr,
        "POST",
        "/api/cameras/front/motion",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        br#"{"action":"start"}"#,
    );
    assert_eq!(st, 415);
    // A foreign Origin, even with JSON: 403.
    let (st, _, _) = http(
        &addr,
        "POST",
        config_path,
        &[("Origin", "http://evil.example")],
        body,
    );
    assert_eq!(st, 403);
    let (st, _, _) = http(&addr, "GET", "/api/cameras", &[("Origin", "null")], b"");
    assert_eq!(st, 403);
    // Our own origin is fine.
    let own = format!("http://{addr}");
    let (st, _, _) = http(&addr, "GET", "/api/cameras", &[("Origin", &own)], b"");
    assert_eq!(st, 200);
    let (_, after) = json(&addr, "GET", config_path, "");
    assert_eq!(before, after, "nothing was changed");

    // Host: a rebinding page's name is refused; ours are not.
    let with_host = |host: &str, path: &str| -> u16 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        with_host(&format!("evil.example:{port}"), "/api/cameras"),
        403
    );
    assert_eq!(with_host("evil.example", "/"), 403);
    for ok in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("nvr.test:{port}"),
        "NVR.test".into(),
    ] {
        assert_eq!(with_host(&ok, "/api/cameras"), 200, "{ok}");
    }
    assert_eq!(
        with_host("evil.example", "/healthz"),
        200,
        "healthz answers anyone"
    );
    run.stop();
}

#[test]
fn every_error_is_json_and_inputs_are_checked_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(dir.path(), "api_token = \"t0ken\"", "");
    let run = start(&cfg, None);
    let addr = run.addr.clone();
    let auth = ("Authorization", "bearer t0ken"); // the scheme in lower case
    let err = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| -> (u16, String) {
        let mut h = vec![auth];
        h.extend_from_slice(headers);
        let (st, _, b) = http(&addr, method, path, &h, body);
        let v: Value = serde_json::from_slice(&b).unwrap_or_else(|_| {
            panic!("{method} {path}: not JSON: {}", String::from_utf8_lossy(&b))
        });
        (
            st,
            v["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: {v}"))
                .to_owned(),
        )
    };
    assert_eq!(
        http(&addr, "GET", "/api/cameras", &[auth], b"").0,
        200,
        "Bearer in any case"
    );
    assert_eq!(err("GET", "/nothing/here", &[], b"").0, 404);
    assert_eq!(err("DELETE", "/api/cameras", &[], b"").0, 405);
    assert_eq!(
        err("GET", "/api/motion_recording/config/%FF%FE", &[], b"").0,
        400
    );
    assert_eq!(err("GET", "/api/recordings/+1/file", &[], b"").0, 400);
    assert_eq!(err("GET", "/api/recordings/-1", &[], b"").0, 400);
    assert_eq!(
        err("GET", "/api/recordings?from=-999-01-01T00:00:00Z", &[], b"").0,
        400
    );
    let big = vec![b'x'; 70_000];
    assert_eq!(err("POST", "/api/cameras/front/motion", &[], &big).0, 413);
    // A long value is quoted, cut.
    let long = format!(r#"{{"action":"{}"}}"#, "y".repeat(60_000));
    let (st, msg) = err("POST", "/api/cameras/front/motion", &[], long.as_bytes());
    assert_eq!(st, 400);
    assert!(
        msg.starts_with("action") && msg.len() < 1_000,
        "{} bytes",
        msg.len()
    );

    // Expect: 100-continue with 1 GiB declared: 413 at once, no 100 Continue.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(
        format!(
            "POST /api/cameras/front/motion HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer t0ken\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let (_, got) = closed_within(&mut s, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    run.stop();
}
