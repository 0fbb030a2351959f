//! `GET /api/storage`: the disk under the storage root, what each camera holds, the retention
//! settings, and alerts.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::ApiResult;
use crate::config::MinFree;
use crate::http::Http;
use crate::retention::disk_usage;

pub async fn storage(State(app): State<Http>) -> ApiResult<Json<Value>> {
    let disk = match disk_usage(app.clips_root()) {
        Ok((total, used, free)) => json!({
            "path": app.clips_root().display().to_string(),
            "total_bytes": total, "used_bytes": used, "free_bytes": free,
        }),
        Err(e) => json!({ "path": app.clips_root().display().to_string(), "error": e.to_string() }),
    };
    let usage = app.catalog().usage()?;
    let clip_bytes: u64 = usage.iter().map(|u| u.bytes).sum();
    let clips: u64 = usage.iter().map(|u| u.clips).sum();
    let s = &app.config().storage;
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
            "camera_max_age_days": app.retention().policy().camera_max_age.iter()
                .map(|(c, d)| (c.clone(), d.as_secs() / 86_400))
                .collect::<std::collections::BTreeMap<_, _>>(),
            "max_bytes": s.max_bytes.map(|b| b.0),
            "min_free": min_free,
            "state": app.retention().state(),
        },
        "clip_store": clip_store(&app)?,
        "alerts": app.alerts(),
    })))
}

/// `[clip_store]` and how it is doing; null without one.
fn clip_store(app: &Http) -> ApiResult<Value> {
    let (Some(remote), Some(c)) = (app.remote(), &app.config().clip_store) else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "s3_endpoint": c.s3_endpoint,
        "bucket": c.bucket,
        "prefix": c.prefix,
        "keep_local_days": c.keep_local_days,
        "max_upload_mbps": c.max_upload_mbps,
        "serve": c.serve,
        "state": remote.state(),
        "pending": app.catalog().store_backlog()?,
    }))
}
