//! The arrows of docs/data-flow.md, checked on the source: the runtime never imports the HTTP
//! side or the command line; the catalog, the notice stream and everything below the runtime
//! import no camera internals and nothing above them. A `use` that breaks a rule fails here
//! with the file and the line.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every line of the files under `src/<under>` (a folder or one file) that names one of `banned`.
fn offences(under: &str, banned: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let root = src.join(under);
    let mut files = Vec::new();
    if root.is_dir() {
        rust_files(&root, &mut files);
    } else {
        files.push(root);
    }
    assert!(!files.is_empty(), "no sources under {under}");
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for b in banned {
                // `crate::cli` but not `crate::clips`: the name must end where the match does.
                let hit = code.match_indices(b).any(|(at, _)| {
                    !code[at + b.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    out.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    out
}

#[test]
fn the_runtime_imports_nothing_of_the_http_side_or_the_cli() {
    let bad = offences("runtime", &["crate::http", "crate::cli"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn what_lies_below_the_runtime_imports_nothing_above_it() {
    for under in [
        "camera",
        "ingest",
        "catalog",
        "retention",
        "retention.rs",
        "clips.rs",
        "config.rs",
        "notice.rs",
        "detect",
        "thumbs.rs",
    ] {
        let bad = offences(under, &["crate::runtime", "crate::http", "crate::cli"]);
        assert!(bad.is_empty(), "{bad:#?}");
    }
}

#[test]
fn the_catalog_and_the_notice_stream_import_no_camera_internals() {
    for under in [
        "catalog",
        "notice.rs",
        "retention",
        "retention.rs",
        "ingest",
    ] {
        let bad = offences(under, &["crate::camera"]);
        assert!(bad.is_empty(), "{bad:#?}");
    }
}
