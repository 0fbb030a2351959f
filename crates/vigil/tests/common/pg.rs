//! A real PostgreSQL server for tests: Debian's binaries (`scripts/setup` installs them),
//! `initdb` into a temporary directory, listening on a free port of 127.0.0.1 only, stopped
//! (and its files removed) when dropped. As root (CI), the server runs as the `postgres` user
//! the Debian package creates: PostgreSQL refuses to run as root. `fsync=off` (tests don't
//! survive a power cut; they do survive `kill`, which leaves the page cache).
//!
//! Standalone (no other test module needed): the catalog's unit tests include it with
//! `#[path]`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// The directory of Debian's PostgreSQL server binaries (the newest version installed).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path().join("bin"))).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").exists());
    versions.sort();
    versions.pop().expect(
        "PostgreSQL's server is not installed (/usr/lib/postgresql/*/bin/initdb): run scripts/setup",
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `cmd args…`, as the `postgres` user when we are root.
fn run_as_server_user(bin: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin).args(args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    }
}

/// A port of 127.0.0.1 free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn check(out: std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgServer {
    /// initdb + start; the superuser is `vigil`, trusted from 127.0.0.1 (the server listens
    /// nowhere else).
    pub fn start() -> PgServer {
        PgServer::start_with(None)
    }

    /// With TLS on: `cert` and `key` (PEM) as the server's certificate.
    pub fn start_tls(cert: &Path, key: &Path) -> PgServer {
        PgServer::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("vigil-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if is_root() {
            check(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(dir.path())
                    .output()
                    .unwrap(),
                "chown",
            );
        }
        let data_s = data.to_str().unwrap();
        check(
            run_as_server_user(
                &bin.join("initdb"),
                &[
                    "-D",
                    data_s,
                    "-U",
                    "vigil",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            )
            .output()
            .unwrap(),
            "initdb",
        );
        let mut tls_opts = String::new();
        if let Some((cert, key)) = tls {
            // The key must be the server user's own and private, or PostgreSQL refuses it.
            let (c, k) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::copy(cert, &c).unwrap();
            std::fs::copy(key, &k).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
            if is_root() {
                for f in [&c, &k] {
                    check(
                        Command::new("chown")
                            .arg("postgres:postgres")
                            .arg(f)
                            .output()
                            .unwrap(),
                        "chown",
                    );
                }
            }
            tls_opts = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                c.display(),
                k.display()
            );
        }
        // A port taken between picking it and starting is retried with another.
        for _ in 0..5 {
            let port = free_port();
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off{tls_opts}",
                dir.path().display()
            );
            let log = dir.path().join("server.log");
            let out = run_as_server_user(
                &bin.join("pg_ctl"),
                &[
                    "-D",
                    data_s,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-o",
                    &opts,
                    "start",
                ],
            )
            .output()
            .unwrap();
            if out.status.success() {
                return PgServer { dir, bin, port };
            }
            eprintln!(
                "postgres didn't start on {port}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("PostgreSQL didn't start");
    }

    /// The URL of database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://vigil@127.0.0.1:{}/{db}", self.port)
    }

    /// A new empty database; returns its URL.
    pub fn new_db(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("vigil_{}", N.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs SQL in database `db` with psql; returns what it printed (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "vigil",
            ])
            .args(["-d", db, "-c", sql])
            .output()
            .unwrap();
        check(out.clone(), &format!("psql {sql}"));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stops the server at once (as a crash would: no shutdown checkpoint).
    pub fn kill(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.pg_ctl(&["-l", log.to_str().unwrap(), "-w", "-o", &opts, "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let mut all = vec!["-D", data.to_str().unwrap()];
        all.extend_from_slice(args);
        check(
            run_as_server_user(&self.bin.join("pg_ctl"), &all)
                .output()
                .unwrap(),
            "pg_ctl",
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = run_as_server_user(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        )
        .output();
    }
}

/// The config file of node `node` of a cluster on the catalog `db` (a URL of this server),
/// listening on `port`, its data in `dir/node`, recording `cameras` from the file `media`
/// (docs/cluster.md); returns its path.
pub fn cluster_node_config(
    dir: &Path,
    node: &str,
    port: u16,
    db: &str,
    lease_secs: u64,
    cameras: &[&str],
    media: &Path,
) -> PathBuf {
    let data = dir.join(node);
    std::fs::create_dir_all(&data).unwrap();
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n\n[catalog]\nurl = \"{db}\"\n\n\
         [cluster]\nnode = \"{node}\"\nlease_secs = {lease_secs}\n\n\
         [defaults]\npre_buffer_secs = 1\npost_buffer_secs = 1\n",
        data.display()
    );
    for c in cameras {
        cfg.push_str(&format!(
            "\n[[camera]]\nname = \"{c}\"\nurl = \"file:{}\"\n",
            media.display()
        ));
    }
    let path = dir.join(format!("{node}.toml"));
    std::fs::write(&path, cfg).unwrap();
    path
}
