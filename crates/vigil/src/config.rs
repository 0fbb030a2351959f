//! The configuration file (TOML), as docs/CONFIG.md gives it. Strict: an unknown key or a bad value stops
//! vigil at start with a message naming the key (`camera[2].pre_buffer_secs: must be between 0
//! and 60 (got 90)`), because a typo silently ignored is a camera silently not recorded.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use vigil_core::settings::{BufferMode, RecordingSettings, SettingsError};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// A byte count written with an optional unit: `500GB`, `50MiB`, `1.5 GiB`, `4096`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("not a size: {s:?} (e.g. \"50MiB\", \"500GB\")"))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "m" | "mb" => 1e6,
            "g" | "gb" => 1e9,
            "t" | "tb" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            other => return Err(format!("unknown size unit {other:?} in {s:?}")),
        };
        let v = n * mult;
        if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
            return Err(format!("size out of range: {s:?}"));
        }
        Ok(ByteSize(v.round() as u64))
    }
}

/// A size as written: a plain number of bytes, or a string with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSize {
    Int(u64),
    Str(String),
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawSize::deserialize(d)? {
            RawSize::Int(n) => Ok(ByteSize(n)),
            RawSize::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// Minimum free disk: bytes (`"10GB"`) or a share of the filesystem (`"5%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinFree {
    Bytes(u64),
    Percent(f64),
}

impl MinFree {
    /// The free bytes wanted on a filesystem of `total_bytes` (retention's rule and its alert).
    pub fn bytes(self, total_bytes: u64) -> u64 {
        match self {
            MinFree::Bytes(b) => b,
            MinFree::Percent(p) => (total_bytes as f64 * p / 100.0) as u64,
        }
    }
}

impl<'de> Deserialize<'de> for MinFree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawSize::deserialize(d)? {
            RawSize::Int(n) => Ok(MinFree::Bytes(n)),
            RawSize::Str(s) => match s.trim().strip_suffix('%') {
                Some(p) => match p.trim().parse::<f64>() {
                    Ok(v) if (0.0..=100.0).contains(&v) => Ok(MinFree::Percent(v)),
                    _ => Err(serde::de::Error::custom(format!(
                        "not a percentage between 0 and 100: {s:?}"
                    ))),
                },
                None => s
                    .parse::<ByteSize>()
                    .map(|b| MinFree::Bytes(b.0))
                    .map_err(serde::de::Error::custom),
            },
        }
    }
}

/// How RTP travels. TCP (interleaved in the RTSP connection) is the default: it passes NATs and
/// firewalls and loses nothing; UDP is there for cameras whose TCP mode is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub api_token: Option<String>,
    /// Open HTTP connections at most (docs/CONFIG.md).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Names this server answers to besides loopback names and IP addresses, on an install
    /// without `api_token` (DNS-rebinding protection).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// A request's header must be complete this long after its first byte.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u32,
    /// A request's body must be complete this long after its header.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_secs: u32,
    /// A connection with no request in progress is closed after this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u32,
    /// A live viewer's queue holds at most this many KiB of packets; a viewer further behind
    /// skips to the next keyframe (`crate::liveview`).
    #[serde(default = "default_live_queue_kib")]
    pub live_queue_kib: u32,
    /// The address people and Home Assistant reach this server at (`http://nvr.lan:8080`), for
    /// the links vigil sends out (clip URLs in MQTT and webhooks, the device's page in Home
    /// Assistant). Default: `http://<listen>`, with the machine's host name for `0.0.0.0`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// HTTPS: the certificate chain and its private key, PEM files (docs/users.md, "TLS").
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// The network interface camera discovery probes on (`eth0`); default: the kernel's
    /// choice by route.
    #[serde(default)]
    pub discovery_interface: Option<String>,
}

fn default_max_connections() -> usize {
    256
}
fn default_header_timeout() -> u32 {
    10
}
fn default_body_timeout() -> u32 {
    30
}
fn default_idle_timeout() -> u32 {
    60
}
fn default_live_queue_kib() -> u32 {
    (crate::liveview::QUEUE_BYTES / 1024) as u32
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./vigil-data")
}

impl ServerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=65_536).contains(&self.max_connections) {
            return Err(invalid(
                "server.max_connections",
                format!("must be between 1 and 65536 (got {})", self.max_connections),
            ));
        }
        for (key, v) in [
            ("server.header_timeout_secs", self.header_timeout_secs),
            ("server.body_timeout_secs", self.body_timeout_secs),
            ("server.idle_timeout_secs", self.idle_timeout_secs),
        ] {
            if !(1..=3600).contains(&v) {
                return Err(invalid(
                    key,
                    format!("must be between 1 and 3600 (got {v})"),
                ));
            }
        }
        if !(16..=1_048_576).contains(&self.live_queue_kib) {
            return Err(invalid(
                "server.live_queue_kib",
                format!(
                    "must be between 16 and 1048576 (got {})",
                    self.live_queue_kib
                ),
            ));
        }
        if let Some(u) = &self.public_url {
            let ok = (u.starts_with("http://") || u.starts_with("https://"))
                && url::Url::parse(u).is_ok_and(|p| p.host().is_some());
            if !ok {
                return Err(invalid(
                    "server.public_url",
                    format!("must be an http:// or https:// URL with a host (got {u:?})"),
                ));
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(invalid(
                    "server.tls_key",
                    "tls_cert needs tls_key (the certificate's private key, PEM)",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "server.tls_cert",
                    "tls_key needs tls_cert (the certificate chain, PEM)",
                ))
            }
            _ => {}
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let ok = !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
            if !ok {
                return Err(invalid(
                    format!("server.hosts[{i}]"),
                    format!("must be a host name (got {h:?})"),
                ));
            }
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            data_dir: default_data_dir(),
            api_token: None,
            max_connections: default_max_connections(),
            hosts: Vec::new(),
            header_timeout_secs: default_header_timeout(),
            body_timeout_secs: default_body_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            live_queue_kib: default_live_queue_kib(),
            public_url: None,
            tls_cert: None,
            tls_key: None,
            discovery_interface: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Default: `<data_dir>/clips`.
    pub root: Option<PathBuf>,
    pub max_age_days: Option<u32>,
    pub max_bytes: Option<ByteSize>,
    pub min_free: Option<MinFree>,
}

/// `[catalog]`: where the catalog is (docs/cluster.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// `postgres://user:password@host:port/db`: a PostgreSQL catalog several nodes can share.
    /// Default: SQLite at `<data_dir>/catalog.db`.
    pub url: Option<String>,
    /// PEM certificates the PostgreSQL server's certificate is checked against (besides the
    /// system's), for `sslmode=require` with a private CA.
    pub tls_ca: Option<PathBuf>,
}

impl CatalogConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(u) = &self.url {
            let ok =
                url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "postgres" | "postgresql"));
            if !ok {
                return Err(invalid(
                    "catalog.url",
                    "must be a postgres:// URL (postgres://user:password@host:port/database)",
                ));
            }
        }
        Ok(())
    }
}

/// `[cluster]`: this vigil is one node of several sharing the PostgreSQL catalog and its
/// cameras (docs/cluster.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Unique per node.
    pub node: String,
    /// A node that doesn't renew its leases for this long loses its cameras to the others.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u32,
}

fn default_lease_secs() -> u32 {
    15
}

impl ClusterConfig {
    fn validate(&self, catalog: &CatalogConfig) -> Result<(), ConfigError> {
        let ok = !self.node.is_empty()
            && self.node.len() <= 64
            && self
                .node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            return Err(invalid(
                "cluster.node",
                "must be 1-64 letters, digits, '-', '_' or '.'",
            ));
        }
        if !(3..=600).contains(&self.lease_secs) {
            return Err(invalid("cluster.lease_secs", "must be between 3 and 600"));
        }
        if catalog.url.is_none() {
            return Err(invalid(
                "cluster.node",
                "nodes share cameras through a PostgreSQL catalog: set [catalog] url",
            ));
        }
        Ok(())
    }
}

/// `[clip_store]`: closed clips copied to an S3-compatible object store (docs/cluster.md).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipStoreConfig {
    /// `https://s3.example` (or `http://` on a private network).
    pub s3_endpoint: String,
    pub bucket: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Days the local copy is kept after the store has the clip (0: deleted once uploaded).
    #[serde(default = "default_keep_local_days")]
    pub keep_local_days: u32,
    /// Upload bandwidth cap in megabits per second (all uploads together); none: no cap.
    #[serde(default)]
    pub max_upload_mbps: Option<f64>,
    /// Clips uploaded at the same time.
    #[serde(default = "default_concurrent_uploads")]
    pub max_concurrent_uploads: u32,
    /// Multipart part size (S3 wants at least 5MiB for every part but the last).
    #[serde(default = "default_part_size")]
    pub part_size: ByteSize,
    /// Put before every object key (`site-a/`), so several installs can share a bucket.
    #[serde(default)]
    pub prefix: String,
    /// How clips only the store has are served: `proxy` (vigil streams them, with Range) or
    /// `redirect` (a presigned URL of the store, valid an hour).
    #[serde(default = "default_serve")]
    pub serve: String,
}

impl std::fmt::Debug for ClipStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipStoreConfig")
            .field("s3_endpoint", &self.s3_endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("keep_local_days", &self.keep_local_days)
            .finish_non_exhaustive()
    }
}

fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_keep_local_days() -> u32 {
    1
}
fn default_concurrent_uploads() -> u32 {
    2
}
fn default_part_size() -> ByteSize {
    ByteSize(8 << 20)
}
fn default_serve() -> String {
    "proxy".to_owned()
}

impl ClipStoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let key = |k: &str| format!("clip_store.{k}");
        let ok = url::Url::parse(&self.s3_endpoint)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(invalid(
                key("s3_endpoint"),
                "must be an http:// or https:// URL",
            ));
        }
        if self.bucket.is_empty() || self.bucket.contains('/') {
            return Err(invalid(key("bucket"), "must be a bucket name"));
        }
        if self.access_key.is_empty() || self.secret_key.is_empty() {
            return Err(invalid(
                key("access_key"),
                "access_key and secret_key must be set",
            ));
        }
        if self.keep_local_days > 36_500 {
            return Err(invalid(key("keep_local_days"), "must be at most 36500"));
        }
        if let Some(m) = self.max_upload_mbps {
            if !(m.is_finite() && m > 0.0) {
                return Err(invalid(key("max_upload_mbps"), "must be a number above 0"));
            }
        }
        if !(1..=64).contains(&self.max_concurrent_uploads) {
            return Err(invalid(
                key("max_concurrent_uploads"),
                "must be between 1 and 64",
            ));
        }
        if !(5 << 20..=5 << 30).contains(&self.part_size.0) {
            return Err(invalid(
                key("part_size"),
                "must be between 5MiB and 5GiB (S3's limits for a part)",
            ));
        }
        if self.prefix.starts_with('/') || self.prefix.contains("..") {
            return Err(invalid(key("prefix"), "must be a relative key prefix"));
        }
        if !matches!(self.serve.as_str(), "proxy" | "redirect") {
            return Err(invalid(key("serve"), "must be proxy or redirect"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    #[serde(default = "default_pool_limit")]
    pub limit: ByteSize,
}

fn default_pool_limit() -> ByteSize {
    ByteSize(50 << 20)
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            limit: default_pool_limit(),
        }
    }
}

/// Motion-recording keys, valid in `[defaults]` and in each `[[camera]]`; unset ones inherit.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingKeys {
    pub enabled: Option<bool>,
    pub pre_buffer_secs: Option<u32>,
    pub post_buffer_secs: Option<u32>,
    pub max_clip_secs: Option<u32>,
    pub buffer_mode: Option<String>,
    pub keyframe_only: Option<bool>,
    pub motion_timeout_secs: Option<u32>,
    pub hybrid_memory: Option<ByteSize>,
    pub record_on: Option<Vec<String>>,
    pub pulse_secs: Option<u32>,
}

impl RecordingKeys {
    fn apply(
        &self,
        mut s: RecordingSettings,
        prefix: &str,
    ) -> Result<RecordingSettings, ConfigError> {
        let key = |f: &str| format!("{prefix}{f}");
        if let Some(v) = self.enabled {
            s.enabled = v;
        }
        if let Some(v) = self.pre_buffer_secs {
            s.pre_buffer_secs = v;
        }
        if let Some(v) = self.post_buffer_secs {
            s.post_buffer_secs = v;
        }
        if let Some(v) = self.max_clip_secs {
            s.max_clip_secs = v;
        }
        if let Some(v) = &self.buffer_mode {
            s.buffer_mode = v
                .parse::<BufferMode>()
                .map_err(|e: SettingsError| invalid(key("buffer_mode"), e.message))?;
        }
        if let Some(v) = self.keyframe_only {
            s.keyframe_only = v;
        }
        if let Some(v) = self.motion_timeout_secs {
            s.motion_timeout_secs = v;
        }
        if let Some(v) = self.hybrid_memory {
            s.hybrid_memory_bytes = v.0;
        }
        if let Some(v) = &self.record_on {
            s.record_on = vigil_core::kind::KindSet::parse(v.iter().map(String::as_str))
                .map_err(|e| invalid(key("record_on"), e.to_string()))?;
        }
        if let Some(v) = self.pulse_secs {
            s.pulse_secs = v;
        }
        s.validate().map_err(|e| {
            let field = if e.field == "hybrid_memory_bytes" {
                "hybrid_memory"
            } else {
                e.field
            };
            invalid(key(field), e.message)
        })?;
        Ok(s)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraEntry {
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub onvif: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub transport: Transport,
    /// Extra ONVIF topics that mean motion, e.g. `"tns1:VideoAnalytics/tnshik:MotionAlarm"`.
    #[serde(default)]
    pub onvif_topics: Vec<String>,
    /// This camera's retention by age (overrides `storage.max_age_days`).
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// An https:// `onvif` device's certificate is not checked (a camera's self-signed one).
    #[serde(default)]
    pub onvif_insecure: bool,
    /// Motion detection of vigil's own (docs/detection.md): `detect`, `detect_url`, ...
    #[serde(flatten)]
    pub detect: crate::detect::DetectKeys,
    #[serde(flatten)]
    pub recording: RecordingKeys,
}

impl CameraEntry {
    /// Checks every key of this camera (naming them `{prefix}key` when one is wrong) and
    /// resolves its settings against `defaults`.
    pub fn resolve(
        self,
        defaults: &RecordingSettings,
        prefix: &str,
    ) -> Result<CameraConfig, ConfigError> {
        let keys = self.clone();
        let c = self;
        let name = c.name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(invalid(
                format!("{prefix}name"),
                "must be 1 to 100 printable characters",
            ));
        }
        if c.url.is_none() && c.onvif.is_none() {
            return Err(invalid(
                format!("{prefix}url"),
                "a camera needs `url` (RTSP or file:) or `onvif` (to find its stream)",
            ));
        }
        if let Some(u) = &c.url {
            let ok = ["rtsp://", "file:"].iter().any(|p| u.starts_with(p));
            if !ok {
                return Err(invalid(
                    format!("{prefix}url"),
                    format!("must start with rtsp:// or file: (got {u:?})"),
                ));
            }
        }
        if let Some(u) = &c.onvif {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(invalid(
                    format!("{prefix}onvif"),
                    format!("must be an http:// or https:// device service URL (got {u:?})"),
                ));
            }
        }
        if let Some(0) = c.max_age_days {
            return Err(invalid(
                format!("{prefix}max_age_days"),
                "must be at least 1",
            ));
        }
        let onvif_topics = c
            .onvif_topics
            .iter()
            .enumerate()
            .map(|(k, t)| {
                t.parse::<vigil_onvif::KindTopic>()
                    .map_err(|e| invalid(format!("{prefix}onvif_topics[{k}]"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let settings = c.recording.apply(defaults.clone(), prefix)?;
        let detect_keys = c.detect.clone();
        let detect = detect_keys
            .check(prefix)
            .map_err(|b| invalid(b.key, b.message))?;
        Ok(CameraConfig {
            name: name.to_owned(),
            url: c.url,
            onvif: c.onvif,
            username: c.username,
            password: c.password,
            transport: c.transport,
            onvif_topics,
            max_age_days: c.max_age_days,
            settings,
            detect,
            detect_keys,
            from_api: false,
            keys,
        })
    }

    /// A camera's keys as the API takes them: a JSON object with the `[[camera]]` keys, checked
    /// exactly as the config file's are (unknown keys and wrong types refused, naming the key).
    pub fn from_json(v: &serde_json::Value) -> Result<CameraEntry, ConfigError> {
        if !v.is_object() {
            return Err(invalid("body", "must be a JSON object of [[camera]] keys"));
        }
        serde_path_to_error::deserialize(v).map_err(|e| {
            let key = e.path().to_string();
            let msg = e.into_inner().to_string();
            if key != "." {
                return invalid(key, msg);
            }
            // The flattened recording keys lose their path: find the key that is wrong by
            // trying each alone over a minimal camera.
            let obj = v.as_object().expect("checked above");
            for (k, val) in obj {
                let mut one = serde_json::Map::new();
                one.insert("name".into(), "x".into());
                one.insert("url".into(), "rtsp://x".into());
                one.insert(k.clone(), val.clone());
                if let Err(e) = serde_json::from_value::<CameraEntry>(one.into()) {
                    return invalid(k.clone(), e.to_string());
                }
            }
            invalid("body", msg)
        })
    }
}

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    storage: StorageConfig,
    #[serde(default)]
    buffer_pool: PoolConfig,
    #[serde(default)]
    catalog: CatalogConfig,
    #[serde(default)]
    clip_store: Option<ClipStoreConfig>,
    #[serde(default)]
    cluster: Option<ClusterConfig>,
    #[serde(default)]
    defaults: RecordingKeys,
    #[serde(default, rename = "camera")]
    cameras: Vec<CameraEntry>,
    #[serde(default)]
    mqtt: Option<crate::integrations::MqttConfig>,
    #[serde(default, rename = "webhook")]
    webhooks: Vec<crate::integrations::WebhookConfig>,
}

/// One camera, with its settings resolved against `[defaults]`.
#[derive(Debug, Clone)]
pub struct CameraConfig {
    pub name: String,
    pub url: Option<String>,
    pub onvif: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub transport: Transport,
    /// Parsed when the file is loaded: an entry that doesn't parse is refused there.
    pub onvif_topics: Vec<vigil_onvif::KindTopic>,
    pub max_age_days: Option<u32>,
    pub settings: RecordingSettings,
    /// `detect = true`: vigil's own motion detection.
    pub detect: Option<crate::detect::DetectConfig>,
    /// The `detect*` keys `detect` comes from (the API shows and changes them).
    pub detect_keys: crate::detect::DetectKeys,
    /// Added through the API (`POST /api/cameras`), not in the config file: it can be deleted
    /// and renamed through the API.
    pub from_api: bool,
    /// Its keys as written (the API shows them, without the password).
    pub keys: CameraEntry,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    /// `[catalog]`: SQLite in the data directory, or a shared PostgreSQL.
    pub catalog: CatalogConfig,
    /// `[clip_store]`: an S3-compatible store closed clips are copied to.
    pub clip_store: Option<ClipStoreConfig>,
    /// `[cluster]`: one node of several.
    pub cluster: Option<ClusterConfig>,
    pub clips_root: PathBuf,
    pub pool_limit: u64,
    pub cameras: Vec<CameraConfig>,
    /// `[defaults]`, resolved: what a camera added through the API inherits.
    pub defaults: RecordingSettings,
    /// `[mqtt]`: MQTT and Home Assistant (docs/integrations.md).
    pub mqtt: Option<crate::integrations::MqttConfig>,
    /// `[[webhook]]`s (docs/integrations.md).
    pub webhooks: Vec<crate::integrations::WebhookConfig>,
}

impl Config {
    /// The base of the links vigil sends out: `server.public_url`, else `http://<listen>` (the
    /// machine's host name for an unspecified address), without a trailing `/`.
    pub fn public_url(&self) -> String {
        if let Some(u) = &self.server.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let l = self.server.listen;
        let scheme = if self.server.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        if l.ip().is_unspecified() {
            format!("{scheme}://{}:{}", crate::util::host_name(), l.port())
        } else {
            format!("{scheme}://{l}")
        }
    }

    /// The retention policy of `[storage]` and the cameras' own `max_age_days`.
    pub fn retention_policy(&self) -> crate::retention::Policy {
        let days = |d: u32| std::time::Duration::from_secs(u64::from(d) * 86_400);
        crate::retention::Policy {
            max_age: self.storage.max_age_days.map(days),
            camera_max_age: self
                .cameras
                .iter()
                .filter_map(|c| Some((c.name.clone(), days(c.max_age_days?))))
                .collect(),
            max_bytes: self.storage.max_bytes.map(|b| b.0),
            min_free: self.storage.min_free,
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("config"),
            message: e.to_string(),
        })?;
        let defaults = raw
            .defaults
            .apply(RecordingSettings::default(), "defaults.")?;
        if raw.buffer_pool.limit.0 < 1 << 20 {
            return Err(invalid(
                "buffer_pool.limit",
                format!("must be at least 1MiB (got {})", raw.buffer_pool.limit),
            ));
        }
        if let Some(0) = raw.storage.max_age_days {
            return Err(invalid("storage.max_age_days", "must be at least 1"));
        }
        raw.server.validate()?;
        raw.catalog.validate()?;
        if let Some(c) = &raw.clip_store {
            c.validate()?;
        }
        if let Some(c) = &raw.cluster {
            c.validate(&raw.catalog)?;
        }
        if let Some(m) = &raw.mqtt {
            m.validate()
                .map_err(|(k, m)| invalid(format!("mqtt.{k}"), m))?;
        }
        for (i, w) in raw.webhooks.iter().enumerate() {
            w.validate()
                .map_err(|(k, m)| invalid(format!("webhook[{i}].{k}"), m))?;
        }
        let mut names = HashSet::new();
        let mut cameras = Vec::with_capacity(raw.cameras.len());
        for (i, c) in raw.cameras.into_iter().enumerate() {
            let prefix = format!("camera[{i}].");
            let cam = c.resolve(&defaults, &prefix)?;
            if !names.insert(cam.name.clone()) {
                return Err(invalid(
                    format!("{prefix}name"),
                    format!("{:?} is used by another camera", cam.name),
                ));
            }
            cameras.push(cam);
        }
        let clips_root = raw
            .storage
            .root
            .clone()
            .unwrap_or_else(|| raw.server.data_dir.join("clips"));
        Ok(Config {
            server: raw.server,
            storage: raw.storage,
            catalog: raw.catalog,
            clip_store: raw.clip_store,
            cluster: raw.cluster,
            clips_root,
            pool_limit: raw.buffer_pool.limit.0,
            cameras,
            defaults,
            mqtt: raw.mqtt,
            webhooks: raw.webhooks,
        })
    }
}

#[cfg(test)]
mod tests;
