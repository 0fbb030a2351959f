//! The web UI: plain ES modules, CSS and an icon from `assets/ui/`, embedded in the binary (no
//! build step, nothing fetched from elsewhere). `/` is the single page; `/ui/{file}` its files.
//! The page reads everything through the JSON API (see docs/ui.md), so these routes need no
//! token: they hold no data.

use crate::http::Http;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// (file name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        HTML,
        include_bytes!("../../assets/ui/index.html"),
    ),
    ("app.css", CSS, include_bytes!("../../assets/ui/app.css")),
    ("app.js", JS, include_bytes!("../../assets/ui/app.js")),
    ("api.js", JS, include_bytes!("../../assets/ui/api.js")),
    ("dom.js", JS, include_bytes!("../../assets/ui/dom.js")),
    ("chart.js", JS, include_bytes!("../../assets/ui/chart.js")),
    ("live.js", JS, include_bytes!("../../assets/ui/live.js")),
    ("grid.js", JS, include_bytes!("../../assets/ui/grid.js")),
    (
        "timeline.js",
        JS,
        include_bytes!("../../assets/ui/timeline.js"),
    ),
    (
        "history.js",
        JS,
        include_bytes!("../../assets/ui/history.js"),
    ),
    (
        "dashboard.js",
        JS,
        include_bytes!("../../assets/ui/dashboard.js"),
    ),
    ("camera.js", JS, include_bytes!("../../assets/ui/camera.js")),
    ("detect.js", JS, include_bytes!("../../assets/ui/detect.js")),
    (
        "cameras.js",
        JS,
        include_bytes!("../../assets/ui/cameras.js"),
    ),
    (
        "recordings.js",
        JS,
        include_bytes!("../../assets/ui/recordings.js"),
    ),
    (
        "storage.js",
        JS,
        include_bytes!("../../assets/ui/storage.js"),
    ),
    (
        "integrations.js",
        JS,
        include_bytes!("../../assets/ui/integrations.js"),
    ),
    (
        "favicon.svg",
        SVG,
        include_bytes!("../../assets/ui/favicon.svg"),
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Everything the page loads comes from this server; clip URLs may carry `?token=`, so no
/// referrer either. Live view plays a MediaSource, whose URL is a `blob:`.
const CSP: &str =
    "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; object-src 'none'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<Http> {
    Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move { serve("index.html", &h) }),
        )
        .route(
            "/ui/{file}",
            get(|Path(f): Path<String>, h: HeaderMap| async move { serve(&f, &h) }),
        )
}

/// A validator that changes whenever the embedded file does.
fn etag(bytes: &[u8]) -> String {
    format!("\"{:016x}\"", crate::util::fnv1a(bytes))
}

fn serve(name: &str, req: &HeaderMap) -> Response {
    let Some((_, ctype, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let tag = etag(body);
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, *ctype)], *body).into_response()
    };
    let h = resp.headers_mut();
    // Revalidate every time: a new binary serves new files at the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if *ctype == HTML {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        let names: Vec<&str> = ASSETS.iter().map(|a| a.0).collect();
        for (name, _, body) in ASSETS {
            let text = String::from_utf8_lossy(body);
            // `from './x.js'` and `href="/ui/x"` / `src="/ui/x"` references.
            let refs = text
                .split("from './")
                .skip(1)
                .chain(text.split("/ui/").skip(1))
                .filter_map(|rest| rest.split(['\'', '"']).next());
            for r in refs {
                assert!(
                    names.contains(&r),
                    "{name} refers to {r}, which is not embedded"
                );
            }
        }
    }

    #[test]
    fn revalidation_answers_not_modified() {
        let first = serve("app.js", &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(serve("app.js", &h).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            serve("../Cargo.toml", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }
}
