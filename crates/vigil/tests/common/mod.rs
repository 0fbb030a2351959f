//! Shared helpers for the integration tests: real ffprobe/ffmpeg checks of real clips, and a
//! camera pipeline driven by a looping sample file under simulated time.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use vigil::camera::CameraPipeline;
use vigil::clips::{ClipRecord, ClipStore};
use vigil::ingest::file::LoopingFile;
use vigil::ingest::SourceEvent;
use vigil::notice::Notice;
use vigil_core::fmp4::Mp4File;
use vigil_core::kind::EventKind;
use vigil_core::packet::Packet;
use vigil_core::pool::Pool;
use vigil_core::prebuffer::BufferConfig;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::RecordingSettings;
use vigil_core::time::{Clock, Now, SimulatedClock, Time};

pub const SAMPLE_H264: &[u8] = include_bytes!("../../assets/samples/demo_h264.mp4");
pub const SAMPLE_H265: &[u8] = include_bytes!("../../assets/samples/demo_h265.mp4");
pub const SAMPLE_H264_AAC: &[u8] = include_bytes!("../../assets/samples/demo_h264_aac.mp4");

/// The samples' GOP: keyframe every 30 frames at 30 fps.
pub const GOP_SECS: f64 = 1.0;

fn tool(name: &str) -> Command {
    let c = Command::new(name);
    // Fail loudly, never skip: CI installs ffmpeg (scripts/setup).
    assert!(
        Command::new(name).arg("-version").output().is_ok(),
        "{name} is not installed: run scripts/setup"
    );
    c
}

/// `ffprobe` JSON of streams, format and (video) packets.
pub fn probe(path: &Path) -> serde_json::Value {
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .args([
            "-show_entries",
            "packet=stream_index,flags,pts_time,duration_time",
        ])
        .arg("-show_packets")
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON")
}

/// What `ffmpeg -v error -i CLIP -f null -` prints: empty for a clip that decodes cleanly.
pub fn decode_errors(path: &Path) -> String {
    let out = tool("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        s.push_str(&format!("\n(exit status {})", out.status));
    }
    s
}

#[derive(Debug)]
pub struct ClipFacts {
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub width: u64,
    pub height: u64,
    pub duration: f64,
    pub first_video_packet_key: bool,
    pub video_packets: usize,
}

/// Checks a clip the way the issue asks (ffprobe reads it, first video packet is a keyframe,
/// decodes without a word from ffmpeg) and returns its facts.
pub fn check_clip(path: &Path) -> ClipFacts {
    let j = probe(path);
    let streams = j["streams"].as_array().expect("streams");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    let vindex = video["index"].as_u64().unwrap();
    let audio = streams.iter().find(|s| s["codec_type"] == "audio");
    let packets: Vec<_> = j["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .filter(|p| p["stream_index"].as_u64() == Some(vindex))
        .collect();
    let first_key = packets
        .first()
        .and_then(|p| p["flags"].as_str())
        .is_some_and(|f| f.starts_with('K'));
    let errors = decode_errors(path);
    assert!(
        errors.trim().is_empty(),
        "ffmpeg reported errors decoding {}:\n{errors}",
        path.display()
    );
    ClipFacts {
        video_codec: video["codec_name"].as_str().unwrap_or("").to_owned(),
        audio_codec: audio.map(|a| a["codec_name"].as_str().unwrap_or("").to_owned()),
        width: video["width"].as_u64().unwrap_or(0),
        height: video["height"].as_u64().unwrap_or(0),
        duration: j["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
        first_video_packet_key: first_key,
        video_packets: packets.len(),
    }
}

/// A camera pipeline fed from a sample file, with time simulated: each packet arrives exactly at
/// its own time (the monotonic clock follows the packets), and motion happens at chosen offsets
/// from the start. The wall clock moves with the monotonic one unless a test steps it.
pub struct SimCamera {
    pub pipeline: CameraPipeline,
    pub source: LoopingFile,
    pub start: Time,
    pub clock: SimulatedClock,
    pub closed: Vec<ClipRecord>,
    pub notices: Vec<Notice>,
    pub _pool: Pool,
    pub dir: PathBuf,
}

pub const T0: Time = Time(1_795_561_113_000_000);

impl SimCamera {
    pub fn new(sample: &'static [u8], settings: RecordingSettings, dir: &Path) -> SimCamera {
        let pool = Pool::new(50 << 20);
        Self::with_pool(sample, settings, dir, pool, "cam")
    }

    pub fn with_pool(
        sample: &'static [u8],
        settings: RecordingSettings,
        dir: &Path,
        pool: Pool,
        name: &str,
    ) -> SimCamera {
        let file = Mp4File::parse(Bytes::from_static(sample)).expect("sample parses");
        let spool = dir.join("spool").join(name);
        let buffer = pool
            .register(name, BufferConfig::from_settings(&settings, spool.clone()))
            .expect("register buffer");
        let store = ClipStore::new(dir.join("clips"));
        let mut pipeline = CameraPipeline::new(name, settings, buffer, store, spool);
        let source = LoopingFile::new(file, T0);
        pipeline.on_source(SourceEvent::Params(source.params()), Now::at(T0));
        SimCamera {
            pipeline,
            source,
            start: T0,
            clock: SimulatedClock::new(T0),
            closed: Vec::new(),
            notices: Vec::new(),
            _pool: pool,
            dir: dir.to_owned(),
        }
    }

    /// The monotonic clock: the packets' timeline.
    pub fn mono(&self) -> Time {
        self.clock.monotonic()
    }

    /// Both clocks, as the pipeline is handed them.
    pub fn clocks(&self) -> Now {
        Now::read(&self.clock)
    }

    pub fn collect(&mut self) {
        for n in self.pipeline.take_notices() {
            if let Notice::ClipClosed(r) = &n {
                self.closed.push(r.clone());
            }
            self.notices.push(n);
        }
    }

    /// Feeds packets (transformed by `f`, which may drop them) until `secs` after the start,
    /// ticking the recorder whenever one of its deadlines passes.
    pub fn run_until_with(&mut self, secs: f64, mut f: impl FnMut(Packet) -> Option<Packet>) {
        let until = self.start.plus(Duration::from_secs_f64(secs));
        loop {
            let Some(p) = self.source.next_packet() else {
                break;
            };
            let t = p.time;
            if let Some(d) = self.pipeline.next_deadline() {
                if d <= t && d > self.mono() {
                    self.clock.advance_to(d);
                    self.pipeline.tick(self.clocks());
                }
            }
            self.clock.advance_to(t);
            if let Some(p) = f(p) {
                self.pipeline
                    .on_source(SourceEvent::Packet(p), self.clocks());
            }
            self.collect();
            if t >= until {
                break;
            }
        }
    }

    pub fn run_until(&mut self, secs: f64) {
        self.run_until_with(secs, Some)
    }

    pub fn at(&self, secs: f64) -> Time {
        self.start.plus(Duration::from_secs_f64(secs))
    }

    pub fn motion_start(&mut self, source: MotionSource) {
        self.pipeline
            .motion_start(source, EventKind::Motion, None, self.clocks());
        self.collect();
    }

    pub fn motion_end(&mut self, source: MotionSource) {
        self.pipeline
            .motion_end(source, EventKind::Motion, self.clocks());
        self.collect();
    }

    pub fn pulse(&mut self, source: MotionSource, secs: f64) {
        let until = self.mono().plus(Duration::from_secs_f64(secs));
        self.pipeline
            .motion_start(source, EventKind::Motion, Some(until), self.clocks());
        self.collect();
    }

    pub fn lose_stream(&mut self, why: &str) {
        self.pipeline
            .on_source(SourceEvent::Lost(why.to_owned()), self.clocks());
        self.collect();
    }

    pub fn shutdown(&mut self) {
        self.pipeline.shutdown(self.clocks());
        self.collect();
    }
}

/// A `vigil demo` child process whose log lines arrive on a channel.
pub struct DemoProcess {
    pub child: std::process::Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl DemoProcess {
    pub fn start(data_dir: &Path, extra: &[&str]) -> DemoProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra);
        DemoProcess::spawn(cmd)
    }

    /// Runs `cmd` (a vigil command) with its log lines arriving on [`DemoProcess::lines`].
    pub fn spawn(mut cmd: Command) -> DemoProcess {
        use std::io::BufRead;
        let mut child = cmd
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("vigil starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        DemoProcess {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits (up to `limit`) for a log line containing all of `needles`; returns it.
    pub fn wait_for(&mut self, needles: &[&str], limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = needles.iter().all(|n| l.contains(n));
                    self.log.push(l.clone());
                    if hit {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needles:?} within {limit:?}; log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Waits for the process to end by itself and collects the rest of its log.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.log.push(l),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "vigil demo did not exit within {limit:?}:\n{}",
                        self.log.join("\n")
                    );
                }
            }
        }
        self.child.wait().expect("wait")
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` (a look at something another process or thread changes) every 100 ms until it
/// returns something, at most `limit`; `what` names it in the failure.
pub fn poll_until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every `.mp4` under `dir`, sorted.
pub fn mp4s_under(dir: &Path) -> Vec<PathBuf> {
    files_under(dir, "mp4")
}

/// Every file named `*.EXT` under `dir`, sorted.
pub fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `key=value` (value possibly quoted) from a tracing log line.
pub fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ' ']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// One HTTP/1.1 exchange over a fresh connection: (status, headers lowercased, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    exchange(&mut s, addr, method, path, headers, body)
}

/// The same over HTTPS, trusting the authority `ca` (a PEM file) only.
pub fn https(
    addr: &str,
    ca: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let host = addr.rsplit_once(':').unwrap().0.to_owned();
    let name = ServerName::try_from(host).unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    exchange(&mut tls, addr, method, path, headers, body)
}

fn exchange(
    s: &mut (impl std::io::Read + std::io::Write),
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    // The API's bodies are JSON, and it takes no other (tests of that say otherwise).
    let typed = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !typed {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify: what arrived is the answer.
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

pub fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A `vigil run` child process with a config of `file:` cameras made from the bundled samples.
pub struct RunProcess {
    pub demo: DemoProcess,
    pub addr: String,
}

/// Writes `samples` into `dir` and a config using them; `extra` is appended to `[server]`.
pub fn write_run_config(dir: &Path, server_extra: &str, camera_extra: &str) -> PathBuf {
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{server_extra}\n\n[defaults]\npre_buffer_secs = 2\npost_buffer_secs = 1\n",
        dir.display()
    );
    for (name, bytes) in [("front", SAMPLE_H264), ("back yard", SAMPLE_H264_AAC)] {
        let p = dir.join(format!("{}.mp4", name.replace(' ', "_")));
        std::fs::write(&p, bytes).unwrap();
        cfg.push_str(&format!(
            "\n[[camera]]\nname = \"{name}\"\nurl = \"file:{}\"\nusername = \"admin\"\npassword = \"hunter2-secret\"\n{camera_extra}\n",
            p.display()
        ));
    }
    let path = dir.join("vigil.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

impl RunProcess {
    pub fn start(config: &Path) -> RunProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.args(["run", "--config"]).arg(config);
        let mut demo = DemoProcess::spawn(cmd);
        // http:// or https://
        let line = demo.wait_for(&["status page on http"], Duration::from_secs(30));
        let addr = line.rsplit("://").next().unwrap().trim().to_owned();
        RunProcess { demo, addr }
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.demo.child.id() as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let st = self.demo.wait_exit(Duration::from_secs(30));
        assert!(
            st.success(),
            "vigil run exit: {st}\n{}",
            self.demo.log.join("\n")
        );
    }
}

/// An in-process config: cameras `a` (H.264) and `b` (H.264 + AAC) playing the bundled samples
/// (written into `dir`), 1 s pre- and post-roll, data under `dir`.
pub fn two_file_cameras(dir: &Path) -> vigil::config::Config {
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[defaults]\npre_buffer_secs = 1\npost_buffer_secs = 1\n",
        dir.display()
    );
    for (name, bytes) in [("a", SAMPLE_H264), ("b", SAMPLE_H264_AAC)] {
        let p = dir.join(format!("{name}.mp4"));
        std::fs::write(&p, bytes).unwrap();
        cfg.push_str(&format!(
            "[[camera]]\nname = \"{name}\"\nurl = \"file:{}\"\n",
            p.display()
        ));
    }
    vigil::config::Config::parse(&cfg).unwrap()
}

/// A vigil app in this process with one camera `cam`: video from the bundled H.264 sample (a
/// looping file) and events from the ONVIF device at `device_url` (user `admin`). `defaults` is
/// appended to `[defaults]`, `camera` to the camera's table.
pub fn onvif_app(
    dir: &Path,
    device_url: &str,
    password: &str,
    defaults: &str,
    camera: &str,
) -> vigil::runtime::Runtime {
    let video = dir.join("cam.mp4");
    std::fs::write(&video, SAMPLE_H264).unwrap();
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{d}\"\n[defaults]\n{defaults}\n\
         [[camera]]\nname = \"cam\"\nurl = \"file:{v}\"\nonvif = \"{device_url}\"\nusername = \"admin\"\npassword = \"{password}\"\n{camera}\n",
        d = dir.display(),
        v = video.display(),
    );
    vigil::runtime::Runtime::start(
        vigil::config::Config::parse(&cfg).unwrap(),
        std::sync::Arc::new(vigil_core::time::SystemClock),
    )
    .unwrap()
}

/// Polls `f` every 50 ms (yielding to the runtime) until it gives a value; panics naming `what`
/// after `limit`.
pub async fn until_async<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until camera `cam` of `app` ([`onvif_app`]) has its ONVIF subscription and a pre-buffer
/// holding `pre` seconds (so that motion finds its pre-roll).
pub async fn onvif_ready(app: &vigil::runtime::Runtime, pre: f64) {
    until_async("an ONVIF subscription", Duration::from_secs(20), || {
        let h = app.handle().camera("cam").unwrap().onvif_health().unwrap();
        (h["state"] == "subscribed").then_some(())
    })
    .await;
    until_async("a full pre-buffer", Duration::from_secs(20), || {
        let b = app.handle().camera("cam").unwrap().status().buffer;
        (b.duration_secs >= pre).then_some(())
    })
    .await;
}

/// `POST /api/cameras/{camera}/motion` with `body` (`camera` as it goes in the path,
/// percent-encoded); the answer must be `202`.
/// Waits until `camera` of the vigil at `addr` is past IDLE (its stream up, its pre-buffer
/// filling): a short pulse sent before that, right after a start, is an event without a clip
/// (docs/state-machine.md), which a loaded machine makes likely. `headers`: its credentials.
pub fn wait_streaming_camera(addr: &str, camera: &str, headers: &[(&str, &str)]) {
    poll_until(
        &format!("{camera} past IDLE"),
        Duration::from_secs(30),
        || {
            let (st, _, b) = http(addr, "GET", "/api/cameras", headers, b"");
            assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
            let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
            let c = v["cameras"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == camera)?
                .clone();
            (c["stream"]["up"] == true && c["state"] != "IDLE").then_some(())
        },
    );
}

pub fn post_motion(addr: &str, camera: &str, body: &str) {
    let path = format!("/api/cameras/{camera}/motion");
    let (st, _, b) = http(addr, "POST", &path, &[], body.as_bytes());
    assert_eq!(st, 202, "POST {path}: {}", String::from_utf8_lossy(&b));
}

/// Media for motion detection (tests/detect.rs, the UI test): a 640x360 15 fps H.264 clip of `secs` s: a grey scene with light sensor noise, through
/// `filters` (an ffmpeg filter chain on `[bg]`, ending in `[out]`).
pub fn motion_media(dir: &Path, name: &str, secs: f64, filters: &str) -> PathBuf {
    let out = dir.join(format!("{name}.mp4"));
    let graph = format!(
        "color=c=0x707070:s=640x360:r=15:d={secs},format=yuv420p,noise=alls=4:allf=t[bg];\
         color=c=white:s=60x60:r=15:d={secs},format=yuv420p[box];{filters}"
    );
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-filter_complex",
            &graph,
            "-map",
            "[out]",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "15", "-bf", "0",
        ])
        // A fixed GOP, as cameras send: no extra keyframes at x264's scene cuts (with the
        // noise, every frame would be one).
        .args(["-sc_threshold", "0"])
        .args(["-pix_fmt", "yuv420p", "-movflags", "+faststart"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success(), "ffmpeg made {name}");
    out
}

/// The box crossing between `from` and `to` seconds at height `y`, from x = `x0` to `x1`.
pub fn crossing(from: f64, to: f64, x0: f64, x1: f64) -> String {
    let speed = (x1 - x0) / (to - from);
    format!(
        "[bg][box]overlay=x='if(between(t,{from},{to}),{x0}+(t-{from})*{speed},-200)':y=150[out]"
    )
}

/// A certificate authority and a server certificate for 127.0.0.1 it signed (openssl).
pub fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=vigil test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// Downloads clip `clip` (an API recording object) from a running vigil at `addr` into
/// `dir/name` and checks it as the issue asks ([`check_clip`]); its path and facts.
pub fn download_clip(
    addr: &str,
    clip: &serde_json::Value,
    dir: &Path,
    name: &str,
) -> (PathBuf, ClipFacts) {
    let path = format!("/api/recordings/{}/file", clip["id"]);
    let (st, _, body) = http(addr, "GET", &path, &[], b"");
    assert_eq!(st, 200, "GET {path}");
    let file = dir.join(name);
    std::fs::write(&file, body).unwrap();
    let facts = check_clip(&file);
    (file, facts)
}

/// `vigil ARGS --config CONFIG` with `stdin` piped in; (success, stdout + stderr).
pub fn vigil_cmd(args: &[&str], config: &Path, stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
