//! Keeps docs/API.md true: runs every example request in it, in order, against a fresh
//! `vigil run` with the configuration the page shows, and checks each answer's status and shape
//! (the same JSON fields, recursively; the headers and metric names shown).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

struct Example {
    line: usize,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    status: u16,
    kind: String,
    expect: String,
}

fn parse(doc: &str) -> Vec<Example> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = vec![];
    let mut i = 0;
    let fence = |from: usize| -> (Vec<String>, usize) {
        let mut body = vec![];
        let mut j = from;
        while j < lines.len() && lines[j] != "```" {
            body.push(lines[j].to_owned());
            j += 1;
        }
        (body, j + 1)
    };
    while i < lines.len() {
        if lines[i] != "```http" {
            i += 1;
            continue;
        }
        let line = i + 1;
        let (req, next) = fence(i + 1);
        let (method, path) = req[0].split_once(' ').expect("METHOD PATH");
        let blank = req.iter().position(|l| l.is_empty()).unwrap_or(req.len());
        let headers = req[1..blank]
            .iter()
            .filter_map(|h| h.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let body = req
            .get(blank + 1..)
            .map(|b| b.join("\n"))
            .unwrap_or_default();
        let resp = lines[next];
        let status: u16 = resp
            .split('`')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "API.md:{}: `Response `NNN`` expected after the request",
                    next + 1
                )
            });
        let kind = lines[next + 1].trim_start_matches("```").to_owned();
        let (expect, after) = fence(next + 2);
        out.push(Example {
            line,
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            body,
            status,
            kind: if resp.contains("headers") {
                "headers".into()
            } else {
                kind
            },
            expect: expect.join("\n"),
        });
        i = after;
    }
    out
}

/// `doc` and `got` have the same shape: the same object keys at every level; `null` in the
/// doc, or in a value the doc shows as a scalar, matches anything.
fn same_shape(doc: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (doc, got) {
        (Value::Null, _) | (_, Value::Null) => Ok(()),
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<_> = a.keys().collect();
            let kb: Vec<_> = b.keys().collect();
            if ka != kb {
                return Err(format!(
                    "{at}: fields {ka:?} in the doc, {kb:?} in the answer"
                ));
            }
            for (k, v) in a {
                same_shape(v, &b[k], &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => match (a.first(), b.first()) {
            (Some(x), Some(y)) => same_shape(x, y, &format!("{at}[0]")),
            _ => Ok(()),
        },
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => Ok(()),
        _ => Err(format!("{at}: {doc} in the doc, {got} in the answer")),
    }
}

#[test]
fn every_example_in_api_md_holds() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md")).unwrap();
    let examples = parse(&doc);
    assert!(
        examples.len() >= 15,
        "found only {} examples",
        examples.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(dir.path(), "", "");
    let run = RunProcess::start(&cfg);
    let addr = run.addr.clone();
    // The page's examples start from a camera that has recorded one clip.
    wait_streaming_camera(&addr, "front", &[]);
    let (st, _, _) = http(
        &addr,
        "POST",
        "/api/cameras/front/motion",
        &[],
        br#"{"action":"pulse","duration_ms":1000}"#,
    );
    assert_eq!(st, 202);
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, b) = http(&addr, "GET", "/api/recordings/1", &[], b"");
        let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
        if v["status"] == "complete" {
            break;
        }
        assert!(Instant::now() < end, "recording 1 never completed: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }

    for ex in &examples {
        let where_ = format!("API.md:{} {} {}", ex.line, ex.method, ex.path);
        let hdrs: Vec<(&str, &str)> = ex
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (st, h, body) = http(
            &addr,
            &ex.method,
            &ex.path.replace(' ', "%20"),
            &hdrs,
            ex.body.as_bytes(),
        );
        assert_eq!(
            st,
            ex.status,
            "{where_}: {}",
            String::from_utf8_lossy(&body)
        );
        match ex.kind.as_str() {
            "json" => {
                let want: Value = serde_json::from_str(&ex.expect)
                    .unwrap_or_else(|e| panic!("{where_}: the doc's JSON: {e}"));
                let got: Value = serde_json::from_slice(&body)
                    .unwrap_or_else(|e| panic!("{where_}: the answer's JSON: {e}"));
                if let Err(e) = same_shape(&want, &got, "") {
                    panic!("{where_}: {e}\nanswer: {got:#}");
                }
            }
            "headers" => {
                for l in ex.expect.lines() {
                    let (k, v) = l.split_once(':').unwrap();
                    let got = header(&h, &k.trim().to_ascii_lowercase())
                        .unwrap_or_else(|| panic!("{where_}: no {k} header"));
                    let v = v.trim();
                    // Lengths differ from run to run: compare up to the '/'.
                    let stem = v.split('/').next().unwrap();
                    assert!(got.starts_with(stem), "{where_}: {k}: {got} vs {v}");
                }
            }
            "text" => {
                let text = String::from_utf8_lossy(&body);
                for l in ex.expect.lines() {
                    let name = if l.starts_with('#') {
                        l
                    } else {
                        l.split(['{', ' ']).next().unwrap()
                    };
                    assert!(text.contains(name), "{where_}: {name:?} not in the answer");
                }
            }
            other => panic!("{where_}: unknown response block {other:?}"),
        }
    }
    run.stop();
}
