//! `GET /api/storage`: the disk under the storage root, what each camera holds, the retention
//! settings, and alerts.

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::ApiResult;
use crate::app::App;
use crate::config::MinFree;

/// Total, used and free bytes of the filesystem holding `path` (free = what we may still use).
pub fn disk_usage(path: &Path) -> std::io::Result<(u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path with a NUL byte")
    })?;
    // SAFETY: statvfs writes into the zeroed struct we own; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frsize;
    let free = st.f_bavail as u64 * frsize;
    let used = total.saturating_sub(st.f_bfree as u64 * frsize);
    Ok((total, used, free))
}

pub async fn storage(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let disk = match disk_usage(&app.clips_root) {
        Ok((total, used, free)) => json!({
            "path": app.clips_root.display().to_string(),
            "total_bytes": total, "used_bytes": used, "free_bytes": free,
        }),
        Err(e) => json!({ "path": app.clips_root.display().to_string(), "error": e.to_string() }),
    };
    let usage = app.catalog.usage()?;
    let clip_bytes: u64 = usage.iter().map(|u| u.bytes).sum();
    let clips: u64 = usage.iter().map(|u| u.clips).sum();
    let s = &app.config.storage;
    let min_free = s.min_free.map(|m| match m {
        MinFree::Bytes(b) => json!({ "bytes": b }),
        MinFree::Percent(p) => json!({ "percent": p }),
    });
    Ok(Json(json!({
        "disk": disk,
        "clips": clips,
        "clip_bytes": clip_bytes,
        "cameras": usage,
        "retention": {
            "max_age_days": s.max_age_days,
            "max_bytes": s.max_bytes.map(|b| b.0),
            "min_free": min_free,
        },
        "alerts": app.alerts(),
    })))
}
