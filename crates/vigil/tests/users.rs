//! Users, sign-in and roles through a running `vigil run` and the `vigil user` command
//! (docs/users.md): sessions in a cookie, viewers refused anything that changes state, the API
//! token still working, failed sign-ins limited, a removed user signed out, and listening
//! beyond loopback without users or a token refused at start.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const TOKEN: &str = "script-token-0123456789";

fn user_cmd(config: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut all = vec!["user"];
    all.extend_from_slice(args);
    common::vigil_cmd(&all, config, stdin)
}

fn call(
    addr: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> (u16, Vec<(String, String)>, Value) {
    let c = cookie.map(|c| format!("vigil_session={c}"));
    let mut h: Vec<(&str, &str)> = Vec::new();
    if let Some(c) = &c {
        h.push(("Cookie", c));
    }
    let (st, hdrs, b) = common::http(addr, method, path, &h, body.as_bytes());
    (st, hdrs, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn login(addr: &str, name: &str, password: &str) -> (u16, Option<String>, String) {
    let body = serde_json::json!({"name": name, "password": password}).to_string();
    let (st, h, _) = call(addr, "POST", "/api/login", None, &body);
    let set = common::header(&h, "set-cookie").unwrap_or("").to_owned();
    let value = set
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("vigil_session="))
        .map(str::to_owned);
    (st, value, set)
}

#[test]
fn sign_in_roles_and_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_run_config(dir.path(), &format!("api_token = \"{TOKEN}\""), "");
    let run = common::RunProcess::start(&config);
    let a = run.addr.clone();

    // Users added while vigil runs (the password from a pipe).
    let (ok, out) = user_cmd(
        &config,
        &["add", "alice", "--role", "admin"],
        "alice-password\n",
    );
    assert!(ok, "{out}");
    assert!(out.contains("user alice added (admin)"), "{out}");
    let (ok, _) = user_cmd(
        &config,
        &["add", "bob", "--role", "viewer"],
        "bob-password\n",
    );
    assert!(ok);
    let (ok, out) = user_cmd(
        &config,
        &["add", "carol", "--role", "root"],
        "carol-password\n",
    );
    assert!(!ok && out.contains("expected admin or viewer"), "{out}");
    let (ok, out) = user_cmd(&config, &["add", "dave", "--role", "viewer"], "short\n");
    assert!(!ok && out.contains("at least 8"), "{out}");
    let (ok, out) = user_cmd(&config, &["list"], "");
    assert!(ok, "{out}");
    assert!(
        out.contains("alice\tadmin") && out.contains("bob\tviewer"),
        "{out}"
    );
    assert!(!out.contains("argon2"), "no hashes shown: {out}");

    // Nobody: 401, but who-am-I says a sign-in is possible.
    let (st, _, _) = call(&a, "GET", "/api/cameras", None, "");
    assert_eq!(st, 401);
    let (st, _, me) = call(&a, "GET", "/api/me", None, "");
    assert_eq!(
        (st, me["name"].clone(), me["login"].clone()),
        (200, Value::Null, Value::Bool(true))
    );

    // The viewer: reads everything, changes nothing (403).
    let (st, bob, set) = login(&a, "bob", "bob-password");
    assert_eq!(st, 200, "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "no TLS here: {set}");
    let bob = bob.unwrap();
    let (st, _, me) = call(&a, "GET", "/api/me", Some(&bob), "");
    assert_eq!(
        (st, me["name"].as_str(), me["role"].as_str()),
        (200, Some("bob"), Some("viewer"))
    );
    let (st, _, cams) = call(&a, "GET", "/api/cameras", Some(&bob), "");
    assert_eq!(st, 200);
    assert_eq!(cams["cameras"].as_array().unwrap().len(), 2);
    let (st, _, _) = call(&a, "GET", "/api/cameras/front/snapshot.jpg", Some(&bob), "");
    assert!(st == 200 || st == 503, "a viewer watches: {st}");
    for (method, path, body) in [
        (
            "POST",
            "/api/cameras/front/motion",
            r#"{"action":"pulse","duration_ms":1000}"#,
        ),
        (
            "POST",
            "/api/motion_recording/config/front",
            r#"{"pre_buffer_secs":3}"#,
        ),
        ("DELETE", "/api/recordings/1", ""),
        ("POST", "/api/recordings/1/protect", r#"{"protected":true}"#),
        ("POST", "/api/cameras", r#"{"name":"x","url":"rtsp://x/"}"#),
    ] {
        let (st, _, e) = call(&a, method, path, Some(&bob), body);
        assert_eq!(st, 403, "{method} {path}: {e}");
        assert!(e["error"].as_str().unwrap().contains("viewer"), "{e}");
    }

    // The admin: everything.
    let (st, alice, _) = login(&a, "alice", "alice-password");
    assert_eq!(st, 200);
    let alice = alice.unwrap();
    let (st, _, _) = call(
        &a,
        "POST",
        "/api/cameras/front/motion",
        Some(&alice),
        r#"{"action":"pulse","duration_ms":1000}"#,
    );
    assert_eq!(st, 202);
    // Signed out: the cookie is cleared and no longer works.
    let (st, h, _) = call(&a, "POST", "/api/logout", Some(&alice), "{}");
    assert_eq!(st, 200);
    assert!(common::header(&h, "set-cookie")
        .unwrap()
        .contains("Max-Age=0"));
    let (st, _, _) = call(&a, "GET", "/api/cameras", Some(&alice), "");
    assert_eq!(st, 401);

    // The API token keeps working for scripts; a wrong one is refused.
    let auth = format!("Bearer {TOKEN}");
    let (st, _, _) = common::http(&a, "GET", "/api/cameras", &[("Authorization", &auth)], b"");
    assert_eq!(st, 200);
    let (st, _, _) = common::http(
        &a,
        "GET",
        "/api/cameras",
        &[("Authorization", "Bearer nope")],
        b"",
    );
    assert_eq!(st, 401);

    // A removed user is signed out at once.
    let (ok, out) = user_cmd(&config, &["remove", "bob"], "");
    assert!(ok, "{out}");
    let (st, _, _) = call(&a, "GET", "/api/cameras", Some(&bob), "");
    assert_eq!(st, 401);

    // Failed sign-ins are limited per address: the sixth try waits, even with the right
    // password.
    for i in 0..5 {
        let (st, _, _) = login(&a, "alice", "wrong-password");
        assert_eq!(st, 401, "try {i}");
    }
    let body = serde_json::json!({"name": "alice", "password": "alice-password"}).to_string();
    let (st, h, e) = call(&a, "POST", "/api/login", None, &body);
    assert_eq!(st, 429, "{e}");
    let wait: u64 = common::header(&h, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    run.stop();
}

#[test]
fn listening_beyond_loopback_needs_users_or_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_run_config(dir.path(), "", "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"");
    std::fs::write(&config, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(["run", "--config"]).arg(&config);
    let mut p = common::DemoProcess::spawn(cmd);
    let st = p.wait_exit(Duration::from_secs(20));
    assert!(!st.success());
    let log = p.log.join("\n");
    assert!(
        log.contains("refusing to listen beyond this machine"),
        "{log}"
    );
    assert!(log.contains("vigil user add"), "says what to do: {log}");
    // With a user, it starts.
    let (ok, out) = user_cmd(
        &config,
        &["add", "admin", "--role", "admin"],
        "admin-password\n",
    );
    assert!(ok, "{out}");
    let run = common::RunProcess::start(&config);
    let port = run.addr.rsplit(':').next().unwrap().to_owned();
    let local = format!("127.0.0.1:{port}");
    let (st, _, _) = common::http(&local, "GET", "/api/cameras", &[], b"");
    assert_eq!(st, 401);
    run.stop();
}

/// `[server] tls_cert` / `tls_key`: the API over HTTPS (a certificate of the test's own
/// authority), session cookies `Secure`; plain HTTP on that port gets nothing.
#[test]
fn https_with_secure_session_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::make_certs(dir.path());
    let config = common::write_run_config(
        dir.path(),
        &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"",
            cert.display(),
            key.display()
        ),
        "",
    );
    let (ok, out) = user_cmd(
        &config,
        &["add", "alice", "--role", "admin"],
        "alice-password\n",
    );
    assert!(ok, "{out}");
    let run = common::RunProcess::start(&config);
    assert!(
        run.demo
            .log
            .iter()
            .any(|l| l.contains("status page on https://")),
        "{:?}",
        run.demo.log
    );
    let a = run.addr.clone();
    let (st, _, _) = common::https(&a, &ca, "GET", "/api/cameras", &[], b"");
    assert_eq!(st, 401);
    let body = br#"{"name": "alice", "password": "alice-password"}"#;
    let (st, h, _) = common::https(&a, &ca, "POST", "/api/login", &[], body);
    assert_eq!(st, 200);
    let set = common::header(&h, "set-cookie").unwrap().to_owned();
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let (st, _, cams) = common::https(&a, &ca, "GET", "/api/cameras", &[("Cookie", &cookie)], b"");
    assert_eq!(st, 200);
    let cams: Value = serde_json::from_slice(&cams).unwrap();
    assert_eq!(cams["cameras"].as_array().unwrap().len(), 2);
    // Plain HTTP to the HTTPS port: no answer (the handshake fails), vigil goes on.
    use std::io::{Read, Write as _};
    let mut s = std::net::TcpStream::connect(&a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(b"GET /api/cameras HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let (st, _, _) = common::https(&a, &ca, "GET", "/healthz", &[], b"");
    assert_eq!(st, 200);
    run.stop();
}

#[test]
fn a_bad_certificate_is_refused_at_start_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let config = common::write_run_config(
        dir.path(),
        &format!("tls_cert = \"{0}\"\ntls_key = \"{0}\"", junk.display()),
        "",
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(["run", "--config"]).arg(&config);
    let mut p = common::DemoProcess::spawn(cmd);
    assert!(!p.wait_exit(Duration::from_secs(20)).success());
    let log = p.log.join("\n");
    assert!(
        log.contains("server.tls_cert") && log.contains("junk.pem"),
        "{log}"
    );
}
