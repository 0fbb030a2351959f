//! Runs a simulated ONVIF camera by hand or from another program's tests.
//!
//! ```text
//! onvif-sim [--listen 127.0.0.1:8000] [--vendor hikvision|axis|reolink|pelco]
//!           [--rtsp rtsp://127.0.0.1:8554/cam] [--sub-rtsp URL] [--user admin] [--password secret]
//!           [--auth ws|digest|both] [--skew-secs N] [--termination-secs N]
//!           [--script "on 3s off 5s"]
//! ```
//! The first line on stdout is `device_url=http://…/onvif/device_service`. With `--script`, the
//! steps repeat until the process is stopped; each motion change is printed as `motion=on|off`.

use std::time::Duration;

use vigil_onvif_sim::{AuthMode, SimCamera, SimConfig, Vendor};

fn usage(msg: &str) -> ! {
    eprintln!("onvif-sim: {msg}");
    eprintln!(
        "usage: onvif-sim [--listen ADDR] [--vendor hikvision|axis|reolink|pelco] [--rtsp URL] [--sub-rtsp URL] [--user U] [--password P] [--auth ws|digest|both] [--skew-secs N] [--termination-secs N] [--script \"on 3s off 5s\"]"
    );
    std::process::exit(2)
}

fn parse_secs(s: &str) -> Option<Duration> {
    let (num, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(sec) = s.strip_suffix('s') {
        (sec, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0 && v.is_finite()).then(|| Duration::from_secs_f64(v * scale))
}

/// `"on 3s off 5s"` → [(true, 3 s), (false, 5 s)].
fn parse_script(s: &str) -> Option<Vec<(bool, Duration)>> {
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return None;
    }
    words
        .chunks(2)
        .map(|w| {
            let on = match w[0] {
                "on" => true,
                "off" => false,
                _ => return None,
            };
            Some((on, parse_secs(w[1])?))
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:0".to_string();
    let mut cfg = SimConfig::new(Vendor::Hikvision);
    let mut script = None;
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--listen" => listen = val(),
            "--vendor" => {
                let v = val();
                cfg.vendor =
                    Vendor::parse(&v).unwrap_or_else(|| usage(&format!("unknown vendor {v}")));
            }
            "--rtsp" => cfg.rtsp_url = val(),
            "--sub-rtsp" => cfg.sub_rtsp_url = Some(val()),
            "--user" => cfg.username = val(),
            "--password" => cfg.password = val(),
            "--auth" => {
                let v = val();
                cfg.auth =
                    AuthMode::parse(&v).unwrap_or_else(|| usage(&format!("unknown auth {v}")));
            }
            "--skew-secs" => {
                cfg.clock_skew_secs = val()
                    .parse()
                    .unwrap_or_else(|_| usage("--skew-secs: integer"))
            }
            "--termination-secs" => {
                let v = val();
                cfg.max_termination =
                    parse_secs(&v).unwrap_or_else(|| usage("--termination-secs: seconds"))
            }
            "--script" => {
                let v = val();
                script =
                    Some(parse_script(&v).unwrap_or_else(|| usage(&format!("bad script {v:?}"))));
            }
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let addr = listen
        .parse()
        .unwrap_or_else(|_| usage(&format!("bad --listen {listen}")));
    let cam = match SimCamera::start_on(addr, cfg).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("onvif-sim: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    println!("device_url={}", cam.device_url());
    let run = async {
        match script {
            Some(steps) => loop {
                for (on, d) in &steps {
                    cam.motion(*on);
                    println!("motion={}", if *on { "on" } else { "off" });
                    tokio::time::sleep(*d).await;
                }
            },
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = run => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts() {
        assert_eq!(
            parse_script("on 3s off 500ms"),
            Some(vec![
                (true, Duration::from_secs(3)),
                (false, Duration::from_millis(500))
            ])
        );
        assert_eq!(parse_script("on"), None);
        assert_eq!(parse_script("up 3s"), None);
        assert_eq!(parse_script("on -1s"), None);
    }
}
