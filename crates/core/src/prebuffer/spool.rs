//! The disk spool: a camera's directory of segment files.
//!
//! One spool per camera (docs/design.md#pre-event-buffer): a *directory* per camera
//! (`BufferConfig::spool_dir`) holding segment files, so space comes back as GOPs are evicted
//! instead of one file growing forever:
//!
//! - Payloads are written at explicit offsets (`pwrite`) into the current segment; a new segment is
//!   started when a GOP begins (or is demoted) and the current one has reached the target size
//!   (4 MiB). A GOP never spans segments.
//! - Every GOP on disk holds an `Arc<Segment>`; a segment file is unlinked when its last reference
//!   goes (all its GOPs evicted or flushed, and it is no longer the segment being written). A
//!   [`super::Flush`] holds the references of what it still has to read, so reads never race a
//!   deletion.
//! - A flush or a clear retires the current segment, so nothing of the old content is appended to.
//! - No fsync: the spool is scratch data. File names carry a per-process token; on opening a
//!   spool, `*.spool` files with another process's token (leftovers of a crash) are deleted.
//! - The directory is removed (if empty) when the buffer is dropped.
//! - Payload writes go through a [`SpoolWriter`] ([`FileWriter`] unless a test injects another):
//!   the seam where a test makes one camera's disk stall or fail on cue.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use smallvec::SmallVec;

use super::gop::{DiskEntry, MemEntry};
use super::BufferError;

/// A new segment is started at a GOP boundary once the current one holds this much.
pub const SEGMENT_TARGET_BYTES: u64 = 4 << 20;

/// A random token per process, so file names never collide across restarts (even as pid 1).
fn process_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!("{:016x}", h.finish())
    })
}

static NEXT_SPOOL: AtomicU64 = AtomicU64::new(0);

/// How payloads reach a spool segment. [`FileWriter`] writes the file; a test can stand in for a
/// disk that stalls or fails on cue. Reads, file creation and deletion always use the file system
/// directly.
pub trait SpoolWriter: Send + Sync {
    /// Writes `parts` back to back into `file` from `offset`: all of them, or an error.
    fn write_all_at(&self, file: &File, offset: u64, parts: &[&[u8]]) -> io::Result<()>;
}

/// The spool's writer: one `pwrite` for a payload, vectored writes for a demoted GOP.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileWriter;

impl SpoolWriter for FileWriter {
    fn write_all_at(&self, file: &File, offset: u64, parts: &[&[u8]]) -> io::Result<()> {
        match parts {
            [one] => file.write_all_at(one, offset),
            _ => write_all_vectored_at(file, offset, parts),
        }
    }
}

/// One segment file. Unlinked when dropped.
#[derive(Debug)]
pub(crate) struct Segment {
    pub file: File,
    pub path: PathBuf,
    /// Bytes written so far; the next write goes here. Only changed under its buffer's lock.
    len: AtomicU64,
}

impl Segment {
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }

    fn advance(&self, by: u64) {
        self.len.fetch_add(by, Ordering::Relaxed);
    }

    pub fn error(&self, source: io::Error) -> BufferError {
        BufferError::Spool {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends one payload; returns its offset. On error nothing is committed (the next write
    /// goes to the same offset).
    pub fn append(&self, w: &dyn SpoolWriter, data: &[u8]) -> Result<(u64, u32), BufferError> {
        let len = u32::try_from(data.len()).map_err(|_| {
            self.error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packet larger than 4 GiB",
            ))
        })?;
        let off = self.len();
        w.write_all_at(&self.file, off, &[data])
            .map_err(|e| self.error(e))?;
        self.advance(u64::from(len));
        Ok((off, len))
    }

    /// Appends a whole GOP with vectored writes; returns its index. Nothing is committed on error.
    pub fn append_gop(
        &self,
        w: &dyn SpoolWriter,
        entries: &[MemEntry],
    ) -> Result<Vec<DiskEntry>, BufferError> {
        let start = self.len();
        let mut out = Vec::with_capacity(entries.len());
        let mut parts: SmallVec<[&[u8]; 64]> = SmallVec::with_capacity(entries.len());
        let mut off = start;
        for e in entries {
            let len = u32::try_from(e.data.len()).map_err(|_| {
                self.error(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "packet larger than 4 GiB",
                ))
            })?;
            out.push(e.to_disk(off, len));
            parts.push(&e.data);
            off += u64::from(len);
        }
        w.write_all_at(&self.file, start, &parts)
            .map_err(|e| self.error(e))?;
        self.advance(off - start);
        Ok(out)
    }

    /// Reads `entries` back: one read per contiguous run of the file, then `Bytes` slices of it.
    pub fn read(
        &self,
        entries: &[DiskEntry],
        mut f: impl FnMut(&DiskEntry, Bytes),
    ) -> Result<(), BufferError> {
        let mut i = 0;
        while i < entries.len() {
            let run_start = entries[i].offset;
            let mut run_end = entries[i].end();
            let mut j = i + 1;
            while j < entries.len() && entries[j].offset == run_end {
                run_end = entries[j].end();
                j += 1;
            }
            let len = usize::try_from(run_end - run_start).map_err(|_| {
                self.error(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "extent too large",
                ))
            })?;
            let mut buf = vec![0u8; len];
            self.file
                .read_exact_at(&mut buf, run_start)
                .map_err(|e| self.error(e))?;
            let buf = Bytes::from(buf);
            for e in &entries[i..j] {
                let a = (e.offset - run_start) as usize;
                f(e, buf.slice(a..a + e.len as usize));
            }
            i = j;
        }
        Ok(())
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // Best effort: a segment that can't be unlinked is left for the next start's cleanup.
        let _ = fs::remove_file(&self.path);
    }
}

/// Writes every part at `off`, consecutively, handling short writes.
fn write_all_vectored_at(file: &File, off: u64, parts: &[&[u8]]) -> io::Result<()> {
    let mut f = file;
    f.seek(SeekFrom::Start(off))?;
    let (mut i, mut skip) = (0usize, 0usize);
    while i < parts.len() {
        let mut slices: SmallVec<[IoSlice<'_>; 64]> = SmallVec::new();
        slices.push(IoSlice::new(&parts[i][skip..]));
        slices.extend(parts[i + 1..].iter().take(63).map(|p| IoSlice::new(p)));
        let mut n = match f.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 && i < parts.len() {
            let rest = parts[i].len() - skip;
            if n >= rest {
                n -= rest;
                i += 1;
                skip = 0;
            } else {
                skip += n;
                n = 0;
            }
        }
    }
    Ok(())
}

/// One buffer's spool: where new segments go, and the segment being written.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    instance: u64,
    next_seq: u64,
    current: Option<Arc<Segment>>,
    pub target: u64,
}

impl Spool {
    /// Creates the directory (so a bad path is reported now, not at the first packet) and removes
    /// other processes' leftovers.
    pub fn open(dir: &Path) -> Result<Spool, BufferError> {
        let err = |source| BufferError::Spool {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(err)?;
        remove_leftovers(dir).map_err(err)?;
        Ok(Spool {
            dir: dir.to_path_buf(),
            instance: NEXT_SPOOL.fetch_add(1, Ordering::Relaxed),
            next_seq: 0,
            current: None,
            target: SEGMENT_TARGET_BYTES,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment a new GOP goes to, starting a new one when the current is full.
    pub fn segment_for_new_gop(&mut self) -> Result<Arc<Segment>, BufferError> {
        if let Some(cur) = &self.current {
            if cur.len() < self.target {
                return Ok(cur.clone());
            }
        }
        self.current = None;
        let path = self.dir.join(format!(
            "{}-{}-{:06}.spool",
            process_token(),
            self.instance,
            self.next_seq
        ));
        self.next_seq += 1;
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
        };
        let file = match open() {
            // The directory went away (removed by hand, or by a dropped buffer that shared it).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir).and_then(|_| open())
            }
            r => r,
        }
        .map_err(|source| BufferError::Spool {
            path: path.clone(),
            source,
        })?;
        let seg = Arc::new(Segment {
            file,
            path,
            len: AtomicU64::new(0),
        });
        self.current = Some(seg.clone());
        Ok(seg)
    }

    /// Stops appending to the current segment; it is unlinked once nothing references it.
    pub fn retire_current(&mut self) {
        self.current = None;
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.current = None;
        // Only succeeds when empty, i.e. every segment is gone; otherwise it stays (harmless).
        let _ = fs::remove_dir(&self.dir);
    }
}

fn remove_leftovers(dir: &Path) -> io::Result<()> {
    let ours = process_token();
    for ent in fs::read_dir(dir)? {
        let ent = ent?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".spool") && !name.starts_with(ours) {
            let _ = fs::remove_file(ent.path());
        }
    }
    Ok(())
}
