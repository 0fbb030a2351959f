use super::*;

/// The example at the top of docs/CONFIG.md.
const CONFIG_MD_EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:8080"
data_dir = "./vigil-data"          # catalog, spool
# api_token = "..."

[storage]
root = "./vigil-data/clips"
max_age_days = 30
max_bytes = "500GB"
min_free = "5%"

[buffer_pool]
limit = "50MiB"

[defaults]
pre_buffer_secs = 5
post_buffer_secs = 10
max_clip_secs = 300
buffer_mode = "memory"              # memory | disk | hybrid
keyframe_only = false

[[camera]]
name = "driveway"
url = "rtsp://192.168.1.20:554/stream1"
onvif = "http://192.168.1.20/onvif/device_service"
username = "admin"
password = "secret"
pre_buffer_secs = 10
"#;

fn err(text: &str) -> String {
    Config::parse(text).unwrap_err().to_string()
}

#[test]
fn config_md_example_parses_with_defaults_inherited() {
    let c = Config::parse(CONFIG_MD_EXAMPLE).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.storage.max_bytes, Some(ByteSize(500_000_000_000)));
    assert_eq!(c.storage.min_free, Some(MinFree::Percent(5.0)));
    assert_eq!(c.pool_limit, 50 << 20);
    assert_eq!(c.clips_root, PathBuf::from("./vigil-data/clips"));
    let cam = &c.cameras[0];
    assert_eq!(cam.name, "driveway");
    assert_eq!(cam.settings.pre_buffer_secs, 10);
    assert_eq!(cam.settings.post_buffer_secs, 10);
    assert_eq!(cam.transport, Transport::Tcp);
}

#[test]
fn empty_file_is_all_defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.clips_root, PathBuf::from("./vigil-data/clips"));
    assert!(c.cameras.is_empty());
}

#[test]
fn unknown_keys_are_refused_naming_the_key() {
    assert!(err("[server]\nlisten_on = \"x\"").contains("listen_on"));
    assert!(err("[defaults]\npre_buffer = 5").contains("pre_buffer"));
    assert!(
        err("[[camera]]\nname = \"a\"\nurl = \"rtsp://h/\"\npasword = \"x\"").contains("pasword")
    );
    assert!(err("[buffer]\nlimit = 1").contains("buffer"));
}

#[test]
fn invalid_values_are_refused_naming_the_key() {
    let e = err("[defaults]\npre_buffer_secs = 61");
    assert!(e.starts_with("defaults.pre_buffer_secs:"), "{e}");
    let e = err("[[camera]]\nname = \"a\"\nurl = \"rtsp://h/\"\n[[camera]]\nname = \"b\"\nurl = \"rtsp://h/\"\npost_buffer_secs = 999");
    assert!(e.starts_with("camera[1].post_buffer_secs:"), "{e}");
    let e = err("[[camera]]\nname = \"a\"\nurl = \"rtsp://h/\"\nbuffer_mode = \"ram\"");
    assert!(e.starts_with("camera[0].buffer_mode:"), "{e}");
    let e = err("[buffer_pool]\nlimit = \"50 parsecs\"");
    assert!(e.contains("parsecs"), "{e}");
    let e = err("[buffer_pool]\nlimit = \"10KB\"");
    assert!(e.starts_with("buffer_pool.limit:"), "{e}");
    let e = err("[storage]\nmin_free = \"150%\"");
    assert!(e.contains("min_free") || e.contains("percentage"), "{e}");
    let e = err("[server]\nlisten = \"not an address\"");
    assert!(e.contains("listen"), "{e}");
    let e = err("[defaults]\npre_buffer_secs = -1");
    assert!(e.contains("pre_buffer_secs"), "{e}");
    let e = err("[catalog]\nurl = \"mysql://db/vigil\"");
    assert!(
        e.starts_with("catalog.url:") && e.contains("postgres://"),
        "{e}"
    );
    assert!(err("[catalog]\nengine = \"pg\"").contains("engine"));
    let c = Config::parse("[catalog]\nurl = \"postgres://vigil:pw@db:5432/vigil\"").unwrap();
    assert_eq!(
        c.catalog.url.as_deref(),
        Some("postgres://vigil:pw@db:5432/vigil")
    );
}

#[test]
fn the_clip_store_is_checked_naming_the_key() {
    let store = |extra: &str| {
        format!("[clip_store]\ns3_endpoint = \"https://s3.example\"\nbucket = \"vigil\"\naccess_key = \"a\"\nsecret_key = \"s\"\n{extra}")
    };
    let c = Config::parse(&store("")).unwrap();
    let cs = c.clip_store.unwrap();
    assert_eq!(
        (cs.keep_local_days, cs.region.as_str(), cs.serve.as_str()),
        (1, "us-east-1", "proxy")
    );
    assert_eq!(cs.part_size.0, 8 << 20);
    assert!(
        !format!("{cs:?}").contains("secret_key"),
        "no secret in debug output"
    );
    for (extra, key) in [
        ("part_size = \"1MiB\"", "clip_store.part_size"),
        ("max_upload_mbps = 0", "clip_store.max_upload_mbps"),
        ("serve = \"teleport\"", "clip_store.serve"),
        (
            "max_concurrent_uploads = 0",
            "clip_store.max_concurrent_uploads",
        ),
        ("prefix = \"/abs\"", "clip_store.prefix"),
    ] {
        let e = err(&store(extra));
        assert!(e.starts_with(key), "{extra}: {e}");
    }
    let e = err("[clip_store]\ns3_endpoint = \"ftp://x\"\nbucket = \"b\"\naccess_key = \"a\"\nsecret_key = \"s\"");
    assert!(e.starts_with("clip_store.s3_endpoint"), "{e}");
    assert!(err("[clip_store]\ns3_endpoint = \"https://x\"").contains("bucket"));
}

#[test]
fn cameras_need_a_name_a_source_and_distinct_names() {
    assert!(err("[[camera]]\nurl = \"rtsp://h/\"").contains("name"));
    assert!(err("[[camera]]\nname = \"a\"").starts_with("camera[0].url:"));
    assert!(err("[[camera]]\nname = \"a\"\nurl = \"http://h/\"").starts_with("camera[0].url:"));
    assert!(err("[[camera]]\nname = \"a\"\nurl = \"rtsps://h/\"").starts_with("camera[0].url:"));
    assert!(err("[[camera]]\nname = \"a\"\nonvif = \"ftp://h/\"").starts_with("camera[0].onvif:"));
    assert!(err("[[camera]]\nname = \"\"\nurl = \"rtsp://h/\"").starts_with("camera[0].name:"));
    let dup = "[[camera]]\nname = \"a\"\nurl = \"rtsp://h/\"\n[[camera]]\nname = \"a\"\nonvif = \"http://h/\"";
    assert!(err(dup).starts_with("camera[1].name:"));
    let ok = Config::parse("[[camera]]\nname = \"a\"\nonvif = \"http://h/onvif/device_service\"\ntransport = \"udp\"\nonvif_topics = [\"tns1:VideoAnalytics/tnshik:MotionAlarm\"]").unwrap();
    assert_eq!(ok.cameras[0].transport, Transport::Udp);
    assert_eq!(ok.cameras[0].onvif_topics.len(), 1);
    // A topic that doesn't parse is refused, naming the key and the value (it used to be
    // dropped without a word, and the camera then never matched it).
    let bad = err("[[camera]]\nname = \"a\"\nonvif = \"http://h/\"\nonvif_topics = [\"tns1:VideoAnalytics/tnshik:MotionAlarm\", \"tns1:RuleEngine//CellMotionDetector\"]");
    assert!(bad.starts_with("camera[0].onvif_topics[1]:"), "{bad}");
    assert!(bad.contains("tns1:RuleEngine//CellMotionDetector"), "{bad}");
}

#[test]
fn min_free_is_bytes_or_a_share_of_the_disk() {
    assert_eq!(MinFree::Bytes(1_000).bytes(10_000), 1_000);
    assert_eq!(MinFree::Bytes(1_000).bytes(0), 1_000);
    assert_eq!(MinFree::Percent(7.0).bytes(10_000), 700);
    assert_eq!(MinFree::Percent(100.0).bytes(1 << 40), 1 << 40);
}

#[test]
fn sizes_parse_with_units() {
    for (s, v) in [
        ("4096", 4096),
        ("50MiB", 50 << 20),
        ("500GB", 500_000_000_000),
        ("1.5 GiB", 3 << 29),
        ("10kb", 10_000),
    ] {
        assert_eq!(s.parse::<ByteSize>().unwrap(), ByteSize(v), "{s}");
    }
    for bad in ["", "MiB", "-5MB", "1e999", "12 furlongs"] {
        assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
    }
}

#[test]
fn a_camera_from_json_is_checked_like_the_file_naming_the_key() {
    use serde_json::json;
    let defaults = RecordingSettings::default();
    let ok = CameraEntry::from_json(&json!({
        "name": " garage ", "url": "rtsp://10.0.0.9/main", "password": "pw",
        "pre_buffer_secs": 8, "detect": true, "detect_masks": [[[0, 0], [0.5, 0], [0.5, 1]]]
    }))
    .unwrap()
    .resolve(&defaults, "")
    .unwrap();
    assert_eq!(ok.name, "garage");
    assert_eq!(ok.settings.pre_buffer_secs, 8);
    assert!(ok.detect.is_some());
    let key_of = |v: serde_json::Value| match CameraEntry::from_json(&v)
        .and_then(|c| c.resolve(&defaults, ""))
    {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("{v}: {other:?}"),
    };
    assert_eq!(key_of(json!({"name": "a", "url": "http://x"})), "url");
    assert_eq!(key_of(json!({"name": "a"})), "url");
    assert_eq!(key_of(json!({"name": "", "url": "rtsp://x"})), "name");
    assert_eq!(
        key_of(json!({"name": "a", "url": "rtsp://x", "urll": 1})),
        "urll"
    );
    assert_eq!(
        key_of(json!({"name": "a", "url": "rtsp://x", "pre_buffer_secs": "ten"})),
        "pre_buffer_secs"
    );
    assert_eq!(
        key_of(json!({"name": "a", "url": "rtsp://x", "pre_buffer_secs": 99})),
        "pre_buffer_secs"
    );
    assert_eq!(
        key_of(json!({"name": "a", "url": "rtsp://x", "transport": "carrier pigeon"})),
        "transport"
    );
    assert_eq!(
        key_of(json!({"name": "a", "url": "rtsp://x", "detect_threshold": 0})),
        "detect_threshold"
    );
    assert_eq!(key_of(json!({"name": 5, "url": "rtsp://x"})), "name");
    assert_eq!(key_of(json!(["name"])), "body");
}
