//! A real S3-compatible server for tests: s3s-fs (the s3s project's server over a directory,
//! from crates.io; `scripts/setup` installs it), on a free port of 127.0.0.1, with one bucket.
//! It can be killed and started again on the same port and directory (a store outage).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const ACCESS_KEY: &str = "vigil-test-access";
pub const SECRET_KEY: &str = "vigil-test-secret-0123456789";
pub const BUCKET: &str = "vigil";

pub struct S3Server {
    pub root: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

/// s3s-fs where `cargo install` put it (`$CARGO_HOME/bin`, default `~/.cargo/bin`), or on PATH.
fn binary() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo"));
    let mut places = vec![Path::new(&cargo_home).join("bin/s3s-fs")];
    if let Some(path) = std::env::var_os("PATH") {
        places.extend(std::env::split_paths(&path).map(|d| d.join("s3s-fs")));
    }
    places
        .into_iter()
        .find(|p| p.exists())
        .expect("s3s-fs is not installed (cargo install s3s-fs): run scripts/setup")
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::Builder::new()
            .prefix("vigil-s3-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = S3Server {
            root,
            port,
            child: None,
        };
        s.restart();
        s
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `[clip_store]` table for this server; `extra` is appended.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "[clip_store]\ns3_endpoint = \"{}\"\nbucket = \"{BUCKET}\"\naccess_key = \"{ACCESS_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n{extra}\n",
            self.endpoint()
        )
    }

    /// The stored object's file (s3s-fs keeps an object at `<root>/<bucket>/<key>`).
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }

    /// Kills the server at once (an outage).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again) on the same port and directory; returns once it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "s3s-fs didn't listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
