//! The PostgreSQL catalog through a running `vigil run` (docs/cluster.md): a real server
//! (Debian's, initdb'd in a temporary directory by the test), an SQLite catalog with clips and
//! a user copied into it with `vigil catalog migrate-to`, then vigil on `[catalog] url`: the
//! same clips (same ids, playable), the same user signs in, new clips go on from there.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

#[path = "common/pg.rs"]
mod pg;

fn vigil(args: &[&str], config: &Path, stdin: &str) -> (bool, String) {
    common::vigil_cmd(args, config, stdin)
}

const TOKEN: &str = "catalog-test-token-0123456789";
const AUTH: (&str, &str) = ("Authorization", "Bearer catalog-test-token-0123456789");

fn get(addr: &str, path: &str) -> Value {
    let (st, _, b) = common::http(addr, "GET", path, &[AUTH], b"");
    assert_eq!(st, 200, "GET {path}: {}", String::from_utf8_lossy(&b));
    serde_json::from_slice(&b).unwrap()
}

/// Triggers a pulse on `front` and waits for one more finished clip than `before`.
fn record_one(addr: &str, before: usize) -> Vec<Value> {
    common::wait_streaming_camera(addr, "front", &[AUTH]);
    let (st, _, b) = common::http(
        addr,
        "POST",
        "/api/cameras/front/motion",
        &[AUTH, ("Content-Type", "application/json")],
        br#"{"action":"pulse","duration_ms":500}"#,
    );
    assert_eq!(st, 202, "{}", String::from_utf8_lossy(&b));
    common::poll_until("a finished clip", Duration::from_secs(60), || {
        let r = get(addr, "/api/recordings?camera=front");
        let done: Vec<Value> = r["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "complete")
            .cloned()
            .collect();
        (done.len() > before).then_some(done)
    })
}

/// A clip's file through the API, checked by ffprobe/ffmpeg (`common::check_clip`).
fn download(addr: &str, clip: &Value, dir: &Path, name: &str) -> common::ClipFacts {
    let path = format!("/api/recordings/{}/file", clip["id"]);
    let (st, _, body) = common::http(addr, "GET", &path, &[AUTH], b"");
    assert_eq!(st, 200, "GET {path}");
    let file = dir.join(name);
    std::fs::write(&file, body).unwrap();
    common::check_clip(&file)
}

#[test]
fn an_sqlite_catalog_moves_to_postgres_and_vigil_goes_on_there() {
    let server = pg::PgServer::start();
    let url = server.new_db();
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_run_config(dir.path(), &format!("api_token = \"{TOKEN}\""), "");

    // SQLite first: a clip and a user.
    let run = common::RunProcess::start(&config);
    let first = record_one(&run.addr, 0);
    run.stop();
    let (ok, out) = vigil(
        &["user", "add", "alice", "--role", "admin"],
        &config,
        "alice-password\n",
    );
    assert!(ok, "{out}");

    // Not a postgres URL, a server that isn't there: refused in words, nothing done.
    let (ok, out) = vigil(
        &["catalog", "migrate-to", "mysql://x@127.0.0.1/db"],
        &config,
        "",
    );
    assert!(!ok && out.contains("postgres://"), "{out}");
    let (ok, out) = vigil(
        &[
            "catalog",
            "migrate-to",
            &format!("postgres://vigil:pw@127.0.0.1:{}/absent", server.port),
        ],
        &config,
        "",
    );
    assert!(
        !ok && out.contains("absent") && !out.contains(":pw@"),
        "{out}"
    );

    let (ok, out) = vigil(&["catalog", "migrate-to", &url], &config, "");
    assert!(ok, "{out}");
    assert!(
        out.contains("clip: 1 rows") && out.contains("user: 1 rows"),
        "{out}"
    );
    // Into a catalog that has rows: refused, nothing doubled.
    let (ok, out) = vigil(&["catalog", "migrate-to", &url], &config, "");
    assert!(!ok && out.contains("not empty"), "{out}");
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(server.psql(db, "SELECT COUNT(*) FROM clip"), "1");

    // vigil on PostgreSQL: the SQLite file is set aside to be sure nothing reads it.
    std::fs::rename(
        dir.path().join("catalog.db"),
        dir.path().join("catalog.db.old"),
    )
    .unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("[catalog]\nurl = \"{url}\"\n\n{text}")).unwrap();
    let run = common::RunProcess::start(&config);
    let a = run.addr.clone();
    let listed = get(&a, "/api/recordings?camera=front");
    let ids: Vec<&Value> = listed["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, vec![&first[0]["id"]], "the same clip, the same id");
    let facts = download(&a, &first[0], dir.path(), "first.mp4");
    assert!(
        facts.first_video_packet_key && facts.duration > 0.5,
        "{}",
        facts.duration
    );
    let body = serde_json::json!({"name": "alice", "password": "alice-password"}).to_string();
    let (st, _, _) = common::http(&a, "POST", "/api/login", &[], body.as_bytes());
    assert_eq!(st, 200, "the copied user signs in");

    let now = record_one(&a, 1);
    assert_eq!(now.len(), 2);
    let new_id = now[0]["id"].as_i64().unwrap();
    assert!(
        new_id > first[0]["id"].as_i64().unwrap(),
        "new ids go on after the copied ones"
    );
    let facts = download(&a, &now[0], dir.path(), "second.mp4");
    assert!(
        facts.first_video_packet_key && facts.duration > 0.5,
        "{}",
        facts.duration
    );
    run.stop();
    assert_eq!(server.psql(db, "SELECT COUNT(*) FROM clip"), "2");
    assert_eq!(
        server.psql(db, "SELECT status FROM clip ORDER BY id"),
        "complete\ncomplete"
    );
}

#[test]
fn a_postgres_catalog_over_tls_checks_the_servers_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::make_certs(certs.path());
    let server = pg::PgServer::start_tls(&cert, &key);
    let url = server.new_db();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let tls_url = format!("{url}?sslmode=require");
    let config = |ca_line: &str| {
        vigil::config::Config::parse(&format!("[catalog]\nurl = \"{tls_url}\"\n{ca_line}\n"))
            .unwrap()
    };
    // Without the private CA the server's certificate is refused, in words.
    let e = vigil::catalog::Catalog::for_config(&config(""))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("certificate") || e.contains("Certificate"),
        "{e}"
    );
    // With it: connected, over TLS (the server says so for this very connection).
    let c = vigil::catalog::Catalog::for_config(&config(&format!("tls_ca = \"{}\"", ca.display())))
        .unwrap();
    c.camera_id("front").unwrap();
    assert_eq!(
        server.psql(&db, "SELECT name FROM camera"),
        "front",
        "the catalog wrote through TLS"
    );
    let tls_sessions = server.psql(
        &db,
        "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
         WHERE s.ssl AND a.datname = current_database() AND a.pid != pg_backend_pid()",
    );
    assert!(tls_sessions.parse::<u32>().unwrap() >= 1, "{tls_sessions}");
    // A CA file that holds no certificate is said.
    let junk = certs.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let e =
        vigil::catalog::Catalog::for_config(&config(&format!("tls_ca = \"{}\"", junk.display())))
            .unwrap_err()
            .to_string();
    assert!(e.contains("no PEM certificate"), "{e}");
}
