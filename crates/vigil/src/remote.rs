//! The clip store (`[clip_store]`, docs/cluster.md): closed clips and their pictures copied to
//! an S3-compatible object store, so the evidence outlives the machine.
//!
//! - **Never in the recording's way**: the uploader is a thread of its own with a small runtime;
//!   it reads finished files only. Recording knows nothing of it.
//! - **Multipart, journaled**: every clip goes up as a multipart upload (`part_size` parts); the
//!   store's upload id and every part it took are in the catalog (`clip_upload`) before the next
//!   part starts, so after a crash or a store outage the upload goes on from the next part. A
//!   store that lost the upload (it expired, it was aborted) is met with a new one.
//! - **Checked**: each part's MD5 is compared with the ETag the store answers (S3-compatible
//!   stores' ETag of a part is its MD5; a store that answers something else, e.g. with KMS
//!   encryption, is taken at its word); the finished object's size is read back (HEAD) and must be
//!   the file's; the file's SHA-256 goes into the catalog. A mismatch restarts the clip's upload.
//! - **Bounded**: at most `max_concurrent_uploads` clips at once; `max_upload_mbps` paces the
//!   parts of all uploads together (averaged over parts).
//! - **The store down**: clips stay local (nothing is deleted that the store doesn't have),
//!   retried with backoff up to a minute, an alert (`/api/alerts`, the UI's banner) and
//!   `vigil_clip_store_up 0` until it answers again.
//! - **Local copies** of stored clips are deleted `keep_local_days` after the upload (their
//!   pictures stay local: small, and the UI lists many); the API then serves the clip from the
//!   store. Deleted clips (retention, the API) queue their objects for deletion in the same
//!   catalog transaction (`store_delete`), done here, also after an outage.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, PutPayload, RetryConfig};
use serde::Serialize;
use sha2::Digest;
use tracing::{info, warn};

use crate::catalog::Catalog;
use crate::config::ClipStoreConfig;
use vigil_core::time::Clock;

/// Health and counters, for the API, metrics and alerts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreState {
    /// The last request to the store succeeded (true before the first).
    pub up: bool,
    /// The last failure, while the store is down.
    pub last_error: Option<String>,
    /// Since when it has been failing (RFC 3339).
    pub down_since: Option<String>,
    pub uploaded_clips: u64,
    pub uploaded_bytes: u64,
    pub deleted_objects: u64,
    pub local_copies_removed: u64,
    /// Uploads that went on from a journaled part (after a crash or an outage).
    pub resumed_uploads: u64,
}

pub struct RemoteStore {
    s3: AmazonS3,
    config: ClipStoreConfig,
    clips_root: PathBuf,
    catalog: Arc<Catalog>,
    clock: Arc<dyn Clock>,
    state: Mutex<StoreState>,
    kick: tokio::sync::Notify,
    stop: AtomicBool,
    pacer: Mutex<Pacer>,
    bytes_sent: AtomicU64,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Paces uploads to `max_upload_mbps`: each part waits for its turn on one shared timeline.
#[derive(Debug, Default)]
struct Pacer {
    next: Option<Instant>,
}

type Error = String;

enum Outcome {
    Done,
    /// A new upload was journaled: go again.
    Restarted,
}

/// `what: error: its cause: ...` (object_store's errors keep the HTTP cause in their sources).
fn err(what: &str, e: impl std::error::Error) -> Error {
    format!("{what}: {}", crate::util::with_causes(&e))
}

impl RemoteStore {
    pub fn new(
        config: &ClipStoreConfig,
        clips_root: &Path,
        catalog: Arc<Catalog>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<RemoteStore>> {
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(20),
            ..Default::default()
        };
        let s3 = AmazonS3Builder::new()
            .with_endpoint(config.s3_endpoint.trim_end_matches('/'))
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key)
            .with_secret_access_key(&config.secret_key)
            .with_virtual_hosted_style_request(false)
            .with_retry(retry)
            // Client options replace the builder's: allow_http goes in them.
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(config.s3_endpoint.starts_with("http://"))
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(300)),
            )
            .build()
            .map_err(|e| anyhow::anyhow!("clip_store: {e}"))?;
        Ok(Arc::new(RemoteStore {
            s3,
            config: config.clone(),
            clips_root: clips_root.to_owned(),
            catalog,
            clock,
            state: Mutex::new(StoreState {
                up: true,
                ..Default::default()
            }),
            kick: tokio::sync::Notify::new(),
            stop: AtomicBool::new(false),
            pacer: Mutex::new(Pacer::default()),
            bytes_sent: AtomicU64::new(0),
        }))
    }

    /// The object key of a clip key (`prefix` + key).
    pub fn object(&self, key: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{key}", self.config.prefix))
    }

    pub fn state(&self) -> StoreState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Wakes the uploader (a clip closed).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    pub fn serve_redirect(&self) -> bool {
        self.config.serve == "redirect"
    }

    fn update(&self, f: impl FnOnce(&mut StoreState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn failed(&self, e: &str) {
        self.update(|s| {
            if s.up {
                s.down_since = Some(self.clock.now().to_string());
            }
            s.up = false;
            s.last_error = Some(e.to_owned());
        });
    }

    fn succeeded(&self) {
        self.update(|s| {
            if !s.up {
                info!("clip store: answering again");
            }
            s.up = true;
            s.last_error = None;
            s.down_since = None;
        });
    }

    /// Starts the uploader thread; it ends after [`RemoteStore::stop`].
    pub fn start(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("clip-store".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        warn!("clip store: cannot start its runtime: {e}");
                        return;
                    }
                };
                rt.block_on(me.run());
            })
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.kick.notify_one();
    }

    async fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(1);
        while !self.stop.load(Ordering::SeqCst) {
            let wait = match self.round().await {
                Ok(busy) => {
                    backoff = Duration::from_secs(1);
                    if busy {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(5)
                    }
                }
                Err(e) => {
                    warn!("clip store: {e} (retrying in {} s)", backoff.as_secs());
                    self.failed(&e);
                    let w = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    w
                }
            };
            if !wait.is_zero() {
                let _ = tokio::time::timeout(wait, self.kick.notified()).await;
            }
        }
    }

    /// One pass: deletions, uploads, local copies. Ok(true) when there may be more to do now.
    async fn round(self: &Arc<Self>) -> Result<bool, Error> {
        let cat = &self.catalog;
        for (key, upload) in cat.store_deletions(100).map_err(|e| e.to_string())? {
            self.delete_object(&key, upload.as_deref()).await?;
            cat.store_deleted(&key).map_err(|e| e.to_string())?;
            self.update(|s| s.deleted_objects += 1);
        }
        let n = self.config.max_concurrent_uploads as usize;
        let todo = cat
            .clips_to_upload((n * 4) as u32)
            .map_err(|e| e.to_string())?;
        let busy = todo.len() == n * 4;
        use futures::StreamExt;
        let results: Vec<Result<(), Error>> = futures::stream::iter(todo)
            .map(|(id, key, _)| {
                let me = self.clone();
                async move { me.upload(id, &key).await }
            })
            .buffer_unordered(n)
            .collect()
            .await;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(e);
        }
        self.succeeded();
        self.drop_local_copies()?;
        Ok(busy && !self.stop.load(Ordering::SeqCst))
    }

    async fn delete_object(&self, key: &str, upload: Option<&str>) -> Result<(), Error> {
        let path = self.object(key);
        if let Some(id) = upload {
            // An unfinished upload: its parts go (a store that already forgot it is fine).
            match self.s3.abort_multipart(&path, &id.to_owned()).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(err(&format!("aborting the upload of {key}"), e)),
            }
        }
        for p in [path, self.object(&thumb_key(key))] {
            match self.s3.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(err(&format!("deleting {p}"), e)),
            }
        }
        Ok(())
    }

    /// Uploads one clip (and its picture), going on from its journal. An upload the store
    /// lost or got wrong starts again (three times at most in one go).
    async fn upload(&self, id: i64, key: &str) -> Result<(), Error> {
        for _ in 0..3 {
            match self.try_upload(id, key).await? {
                Outcome::Done => return Ok(()),
                Outcome::Restarted => continue,
            }
        }
        Err(format!("{key}: the store keeps getting the upload wrong"))
    }

    async fn try_upload(&self, id: i64, key: &str) -> Result<Outcome, Error> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let file_path = self.clips_root.join(key);
        let mut file = match tokio::fs::File::open(&file_path).await {
            Ok(f) => f,
            // Deleted meanwhile (retention, the API): nothing to upload.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Outcome::Done),
            Err(e) => return Err(err(&format!("reading {key}"), e)),
        };
        let len = file
            .metadata()
            .await
            .map_err(|e| err(&format!("reading {key}"), e))?
            .len();
        let path = self.object(key);
        let cat = &self.catalog;
        let part_size = self.config.part_size.0.max(1);
        let n_parts = len.div_ceil(part_size).max(1) as usize;
        let (upload_id, mut parts) = match cat.upload_journal(id).map_err(|e| e.to_string())? {
            Some(j) if j.part_size == part_size && j.parts.len() <= n_parts => {
                if !j.parts.is_empty() {
                    info!(
                        clip = id,
                        key,
                        parts = j.parts.len(),
                        "clip store: going on with an upload"
                    );
                    self.update(|s| s.resumed_uploads += 1);
                }
                (j.upload_id, j.parts)
            }
            _ => self.new_upload(id, &path, part_size).await?,
        };
        // One part in memory at a time; every part (sent before or now) goes through the hash.
        let mut sha = sha2::Sha256::new();
        let mut buf = vec![0u8; part_size.min(len.max(1)) as usize];
        for i in 0..n_parts {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(Outcome::Done);
            }
            let start = i as u64 * part_size;
            let n = part_size.min(len - start.min(len)) as usize;
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| err(&format!("reading {key}"), e))?;
            file.read_exact(&mut buf[..n])
                .await
                .map_err(|e| err(&format!("reading {key}"), e))?;
            sha.update(&buf[..n]);
            if i < parts.len() {
                continue;
            }
            let chunk = Bytes::copy_from_slice(&buf[..n]);
            self.pace(n).await;
            let sent = self
                .s3
                .put_part(&path, &upload_id, i, PutPayload::from(chunk.clone()))
                .await;
            let part = match sent {
                Ok(p) => p,
                Err(e) if upload_gone(&e) => {
                    warn!(
                        clip = id,
                        key, "clip store: the upload is gone from the store; starting it again"
                    );
                    self.new_upload(id, &path, part_size).await?;
                    return Ok(Outcome::Restarted);
                }
                Err(e) => return Err(err(&format!("uploading part {} of {key}", i + 1), e)),
            };
            self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
            if !etag_matches(&part.content_id, &chunk) {
                warn!(clip = id, key, part = i + 1, etag = %part.content_id, "clip store: a part's ETag is not its MD5; starting the upload again");
                let _ = self.s3.abort_multipart(&path, &upload_id).await;
                self.new_upload(id, &path, part_size).await?;
                return Ok(Outcome::Restarted);
            }
            cat.add_upload_part(id, i, &part.content_id)
                .map_err(|e| e.to_string())?;
            parts.push(part.content_id);
        }
        let ids: Vec<PartId> = parts
            .iter()
            .map(|p| PartId {
                content_id: p.clone(),
            })
            .collect();
        match self.s3.complete_multipart(&path, &upload_id, ids).await {
            // Gone: completed before a crash (its journal not yet cleared), or lost: the size
            // check below tells which.
            Ok(_) => {}
            Err(e) if upload_gone(&e) => {}
            Err(e) => return Err(err(&format!("completing the upload of {key}"), e)),
        }
        let stored = match self.s3.head(&path).await {
            Ok(m) => Some(m.size),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(err(&format!("checking {key} in the store"), e)),
        };
        if stored != Some(len) {
            warn!(
                clip = id,
                key,
                ?stored,
                local = len,
                "clip store: the stored object is not the clip; uploading it again"
            );
            self.new_upload(id, &path, part_size).await?;
            return Ok(Outcome::Restarted);
        }
        // The picture, when there is one (small: one request).
        let thumb = crate::thumbs::thumb_path(&file_path);
        if let Ok(jpeg) = tokio::fs::read(&thumb).await {
            self.s3
                .put(&self.object(&thumb_key(key)), PutPayload::from(jpeg))
                .await
                .map_err(|e| err(&format!("uploading the picture of {key}"), e))?;
        }
        cat.finish_upload(id, &hex(&sha.finalize()))
            .map_err(|e| e.to_string())?;
        self.update(|s| {
            s.uploaded_clips += 1;
            s.uploaded_bytes += len;
        });
        info!(clip = id, key, bytes = len, "clip store: uploaded");
        Ok(Outcome::Done)
    }

    async fn new_upload(
        &self,
        id: i64,
        path: &ObjectPath,
        part_size: u64,
    ) -> Result<(String, Vec<String>), Error> {
        let upload = self
            .s3
            .create_multipart(path)
            .await
            .map_err(|e| err(&format!("starting the upload of {path}"), e))?;
        self.catalog
            .start_upload(id, &upload, part_size)
            .map_err(|e| e.to_string())?;
        Ok((upload, Vec::new()))
    }

    /// Waits for this many bytes' turn under `max_upload_mbps`.
    async fn pace(&self, bytes: usize) {
        let Some(mbps) = self.config.max_upload_mbps else {
            return;
        };
        let cost = Duration::from_secs_f64(bytes as f64 * 8.0 / (mbps * 1e6));
        let at = {
            let mut p = self.pacer.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let at = p.next.map_or(now, |n| n.max(now));
            p.next = Some(at + cost);
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }

    /// Local files of clips stored longer than `keep_local_days` go (their pictures stay).
    fn drop_local_copies(&self) -> Result<(), Error> {
        let keep = i64::from(self.config.keep_local_days) * 86_400_000_000;
        let now = self.clock.now().0;
        let old = self
            .catalog
            .local_copies_stored_before(now - keep)
            .map_err(|e| e.to_string())?;
        for (id, key) in old {
            match std::fs::remove_file(self.clips_root.join(&key)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(&format!("removing the local copy of {key}"), e)),
            }
            self.catalog
                .set_local_deleted(id)
                .map_err(|e| e.to_string())?;
            self.update(|s| s.local_copies_removed += 1);
        }
        Ok(())
    }

    /// The object's size, and a stream of `range` of it (all of it when `None`).
    pub async fn get(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<object_store::GetResult, object_store::Error> {
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        self.s3.get_opts(&self.object(key), opts).await
    }

    /// A presigned GET URL of the clip, valid an hour.
    pub async fn presigned(&self, key: &str) -> Result<String, object_store::Error> {
        use object_store::signer::Signer;
        let url = self
            .s3
            .signed_url(
                axum::http::Method::GET,
                &self.object(key),
                Duration::from_secs(3600),
            )
            .await?;
        Ok(url.to_string())
    }

    /// Bytes sent to the store so far (all parts).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }
}

/// The store doesn't know the upload (any more): S3 says 404 NoSuchUpload, some stores 403.
/// Starting a new one tells: with wrong credentials that fails too, and is reported.
fn upload_gone(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::NotFound { .. } | object_store::Error::PermissionDenied { .. }
    )
}

/// The picture's key beside its clip's.
fn thumb_key(key: &str) -> String {
    Path::new(key)
        .with_extension("jpg")
        .to_string_lossy()
        .into_owned()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A part's ETag is its MD5 on S3-compatible stores; any other shape is taken at its word.
fn etag_matches(etag: &str, data: &[u8]) -> bool {
    let e = etag.trim_matches('"');
    if e.len() != 32 || !e.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    e.eq_ignore_ascii_case(&hex(&md5::Md5::digest(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_checked_when_they_are_md5s() {
        // MD5("hello")
        let md5 = "5d41402abc4b2a76b9719d911017c592";
        assert!(etag_matches(md5, b"hello"));
        assert!(etag_matches(&format!("\"{md5}\""), b"hello"));
        assert!(!etag_matches(md5, b"hellO"));
        assert!(etag_matches("not-an-md5-etag-from-kms", b"anything"));
        assert_eq!(
            thumb_key("front/2026-12-04/a.mp4"),
            "front/2026-12-04/a.jpg"
        );
    }
}
