use super::*;
use crate::clips::ClipStatus;
use std::time::Duration;
use vigil_core::kind::EventKind;
use vigil_core::settings::{BufferMode, RecordingSettings};

#[path = "../../tests/common/pg.rs"]
mod pg_server;

/// Runs `f` on a new SQLite catalog, then on a new PostgreSQL one (a real server, started
/// here): every catalog test holds for both engines.
fn each_engine(f: impl Fn(&Catalog)) {
    let d = tempfile::tempdir().unwrap();
    f(&Catalog::open(&d.path().join("catalog.db")).unwrap());
    let server = pg_server::PgServer::start();
    let c = Catalog::connect(&server.new_db()).unwrap();
    assert_eq!(c.dialect(), Dialect::Postgres);
    f(&c);
}

/// Runs one statement (tests write what the API never would).
fn exec(c: &Catalog, sql: &str) {
    c.with(|x| x.execute(sql, db::args![])).unwrap();
}

fn new_clip<'a>(camera: &'a str, key: &'a str, event: Option<i64>) -> NewClip<'a> {
    NewClip {
        camera,
        event_id: event,
        key,
        video_codec: "h264",
        width: 640,
        height: 360,
        trigger: "onvif",
    }
}

#[test]
fn migrations_apply_once_and_refuse_a_newer_schema() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("catalog.db");
    let c = Catalog::open(&p).unwrap();
    assert_eq!(c.schema_version().unwrap(), SCHEMA_VERSION);
    c.camera_id("a").unwrap();
    drop(c);
    let c = Catalog::open(&p).unwrap();
    assert_eq!(c.camera_id("a").unwrap(), 1, "data kept across opens");
    drop(c);
    rusqlite::Connection::open(&p)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let e = Catalog::open(&p).unwrap_err();
    assert!(matches!(e, CatalogError::TooNew { found: 99, .. }), "{e}");

    // PostgreSQL: the same versions, in the vigil_schema table.
    let server = pg_server::PgServer::start();
    let url = server.new_db();
    let c = Catalog::connect(&url).unwrap();
    assert_eq!(c.schema_version().unwrap(), SCHEMA_VERSION);
    c.camera_id("a").unwrap();
    drop(c);
    let c = Catalog::connect(&url).unwrap();
    assert_eq!(c.camera_id("a").unwrap(), 1, "data kept across connections");
    exec(&c, "UPDATE vigil_schema SET version = 99");
    drop(c);
    let e = Catalog::connect(&url).unwrap_err();
    assert!(matches!(e, CatalogError::TooNew { found: 99, .. }), "{e}");
}

#[test]
fn a_postgres_catalog_that_is_not_there_is_a_clear_error_and_a_lost_connection_comes_back() {
    let server = pg_server::PgServer::start();
    let url = server.new_db();
    let wrong = format!("postgres://vigil:secret@127.0.0.1:{}/nowhere", server.port);
    let e = Catalog::connect(&wrong).unwrap_err().to_string();
    assert!(e.contains("nowhere") && e.contains("***"), "{e}");
    assert!(!e.contains("secret"), "the password is never said: {e}");
    let c = Catalog::connect(&url).unwrap();
    c.camera_id("front").unwrap();
    server.kill();
    let e = c.camera_id("back").unwrap_err().to_string();
    assert!(e.contains("catalog"), "{e}");
    server.restart();
    assert_eq!(c.camera_id("front").unwrap(), 1, "connected again");
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("catalog.db");
    std::fs::write(
        &p,
        b"this is not sqlite, just some text that is long enough......",
    )
    .unwrap();
    let e = Catalog::open(&p).unwrap_err().to_string();
    assert!(e.contains("catalog"), "{e}");
}

#[test]
fn clips_go_from_recording_to_complete_and_filter_by_camera_and_time() {
    each_engine(|c| {
        let a = c
            .insert_clip(&new_clip("front", "front/a.mp4", None))
            .unwrap();
        let b = c
            .insert_clip(&new_clip("back", "back/b.mp4", None))
            .unwrap();
        assert_eq!(c.clip(a).unwrap().unwrap().status, ClipStatus::Recording);
        for (id, start) in [(a, 100), (b, 200)] {
            let start = Time::from_secs(start);
            c.finish_clip(
                id,
                ClipStatus::Complete,
                &ClipFacts {
                    start: Some(start),
                    end: Some(start.plus(Duration::from_secs(20))),
                    duration_secs: 20.0,
                    bytes: 1000,
                    frames: 600,
                    pre_roll_secs: 5.0,
                    close_reason: Some("post_roll_expired".into()),
                },
            )
            .unwrap();
        }
        let row = c.clip(a).unwrap().unwrap();
        assert_eq!(row.status, ClipStatus::Complete);
        assert_eq!((row.bytes, row.frames, row.pre_roll_secs), (1000, 600, 5.0));
        let all = c.clips(&ClipFilter::default()).unwrap();
        assert_eq!(
            all.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![b, a],
            "newest first"
        );
        let front = c
            .clips(&ClipFilter {
                camera: Some("front".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(front.len(), 1);
        let window = |from, to| {
            c.clips(&ClipFilter {
                from: Some(Time::from_secs(from)),
                to: Some(Time::from_secs(to)),
                ..Default::default()
            })
            .unwrap()
            .len()
        };
        assert_eq!(window(0, 100), 0, "to is exclusive");
        assert_eq!(window(0, 101), 1);
        assert_eq!(window(119, 201), 2, "overlapping either end");
        assert_eq!(window(121, 199), 0);
        let limited = c
            .clips(&ClipFilter {
                limit: Some(1),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(limited.len(), 1);
        assert!(c.set_protected(a, true).unwrap());
        assert!(c.clip(a).unwrap().unwrap().protected);
        assert!(c.delete_clip(a).unwrap());
        assert!(!c.delete_clip(a).unwrap());
        assert!(c.clip(a).unwrap().is_none());
    });
}

#[test]
fn events_link_their_clips_and_keep_the_latest_end() {
    each_engine(|c| {
        let e = c
            .insert_event(
                "front",
                EventKind::Person,
                "onvif",
                Time::from_secs(10),
                Some(Time::from_secs(9)),
            )
            .unwrap();
        let a = c
            .insert_clip(&new_clip("front", "front/1.mp4", Some(e)))
            .unwrap();
        let b = c
            .insert_clip(&new_clip("front", "front/2.mp4", Some(e)))
            .unwrap();
        for clip in [a, b, a] {
            c.link_event_clip(e, clip).unwrap();
        }
        c.end_event(e, Time::from_secs(15), false, None).unwrap();
        c.count_overlap(e).unwrap();
        c.end_event(e, Time::from_secs(30), true, Some(Time::from_secs(29)))
            .unwrap();
        let rows = c.events(&EventFilter::default()).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.kind, "person");
        assert_eq!(r.clip_ids, vec![a, b]);
        assert_eq!(c.clip(a).unwrap().unwrap().kinds.names(), ["person"]);
        let by_kind = |k| {
            c.events(&EventFilter {
                kind: Some(k),
                ..Default::default()
            })
            .unwrap()
            .len()
        };
        assert_eq!(
            (by_kind(EventKind::Person), by_kind(EventKind::Motion)),
            (1, 0)
        );
        assert_eq!(r.end, Some(Time::from_secs(30)));
        assert_eq!(r.camera_start, Some(Time::from_secs(9)));
        assert_eq!(r.camera_end, Some(Time::from_secs(29)));
        assert_eq!((r.overlapping_events, r.timed_out), (1, true));
        let none = c
            .events(&EventFilter {
                camera: Some("back".into()),
                ..Default::default()
            })
            .unwrap();
        assert!(none.is_empty());
        // Deleting a clip keeps the event; the event just loses that clip.
        c.delete_clip(a).unwrap();
        assert_eq!(
            c.events(&EventFilter::default()).unwrap()[0].clip_ids,
            vec![b]
        );
    });
}

#[test]
fn settings_round_trip_and_override_the_base() {
    each_engine(|c| {
        let base = RecordingSettings::default();
        assert_eq!(c.load_settings("front", &base).unwrap(), None);
        let s = RecordingSettings {
            pre_buffer_secs: 12,
            buffer_mode: BufferMode::Hybrid,
            keyframe_only: true,
            record_on: vigil_core::kind::KindSet::parse(["person", "vehicle"]).unwrap(),
            pulse_secs: 9,
            ..base.clone()
        };
        c.save_settings("front", &s).unwrap();
        assert_eq!(c.load_settings("front", &base).unwrap(), Some(s.clone()));
        let s2 = RecordingSettings {
            enabled: false,
            ..s
        };
        c.save_settings("front", &s2).unwrap();
        assert_eq!(c.load_settings("front", &base).unwrap(), Some(s2));
        // Saved before kinds existed: the base's record_on and pulse_secs.
        exec(
            c,
            "UPDATE camera_settings SET settings = '{\"enabled\": true, \"pre_buffer_secs\": 3, \
                 \"post_buffer_secs\": 4, \"max_clip_secs\": 300, \"buffer_mode\": \"memory\", \
                 \"keyframe_only\": false}'",
        );
        let old = c.load_settings("front", &base).unwrap().unwrap();
        assert_eq!(
            (old.record_on, old.pulse_secs),
            (base.record_on, base.pulse_secs)
        );
        // An unknown kind stored is refused clearly.
        exec(
            c,
            "UPDATE camera_settings SET settings = '{\"enabled\": true, \"pre_buffer_secs\": 3, \
                 \"post_buffer_secs\": 4, \"max_clip_secs\": 300, \"buffer_mode\": \"memory\", \
                 \"keyframe_only\": false, \"record_on\": [\"ghost\"]}'",
        );
        let e = c.load_settings("front", &base).unwrap_err();
        assert!(e.to_string().contains("record_on"), "{e}");
    });
}

#[test]
fn corrupt_stored_settings_are_a_clear_error_not_a_panic() {
    each_engine(|c| {
        c.save_settings("front", &RecordingSettings::default())
            .unwrap();
        exec(
            c,
            "UPDATE camera_settings SET settings = '{\"pre_buffer_secs\": 999}'",
        );
        let e = c
            .load_settings("front", &RecordingSettings::default())
            .unwrap_err();
        assert!(matches!(e, CatalogError::BadSettings { .. }), "{e}");
    });
}

#[test]
fn the_clip_store_journal_and_deletion_queue() {
    each_engine(|c| {
        let a = c
            .insert_clip(&new_clip("front", "front/a.mp4", None))
            .unwrap();
        let b = c
            .insert_clip(&new_clip("front", "front/b.mp4", None))
            .unwrap();
        let facts = ClipFacts {
            bytes: 3000,
            ..Default::default()
        };
        assert!(c.clips_to_upload(10).unwrap().is_empty(), "still recording");
        c.finish_clip(a, ClipStatus::Complete, &facts).unwrap();
        c.finish_clip(b, ClipStatus::Recovered, &facts).unwrap();
        assert_eq!(
            c.clips_to_upload(10).unwrap(),
            vec![
                (a, "front/a.mp4".to_owned(), 3000),
                (b, "front/b.mp4".to_owned(), 3000)
            ]
        );
        assert_eq!(
            c.store_backlog().unwrap(),
            StoreBacklog {
                clips: 2,
                bytes: 6000,
                deletions: 0
            }
        );
        // A journal: parts in order; a part sent again replaces the later ones.
        assert_eq!(c.upload_journal(a).unwrap(), None);
        c.start_upload(a, "up-1", 5 << 20).unwrap();
        assert_eq!(
            c.clip(a).unwrap().unwrap().store_status,
            StoreStatus::Uploading
        );
        c.add_upload_part(a, 0, "\"e0\"").unwrap();
        c.add_upload_part(a, 1, "\"e1\"").unwrap();
        c.add_upload_part(a, 1, "\"e1b\"").unwrap();
        let j = c.upload_journal(a).unwrap().unwrap();
        assert_eq!((j.upload_id.as_str(), j.part_size), ("up-1", 5 << 20));
        assert_eq!(j.parts, ["\"e0\"", "\"e1b\""]);
        // A new upload starts from nothing.
        c.start_upload(a, "up-2", 5 << 20).unwrap();
        assert!(c.upload_journal(a).unwrap().unwrap().parts.is_empty());
        c.finish_upload(a, "abc").unwrap();
        assert_eq!(c.upload_journal(a).unwrap(), None);
        let row = c.clip(a).unwrap().unwrap();
        assert_eq!((row.store_status, row.local), (StoreStatus::Stored, true));
        assert_eq!(c.clips_to_upload(10).unwrap().len(), 1);
        // Local copies stored long enough go; the row stays, not local any more.
        assert!(c.local_copies_stored_before(0).unwrap().is_empty());
        let old = c.local_copies_stored_before(i64::MAX).unwrap();
        assert_eq!(old, vec![(a, "front/a.mp4".to_owned())]);
        c.set_local_deleted(a).unwrap();
        assert!(!c.clip(a).unwrap().unwrap().local);
        assert!(
            c.clip_keys().unwrap().iter().all(|(id, _)| *id != a),
            "no file to reconcile"
        );
        // Deleting clips: the stored one and the one being uploaded queue their objects.
        c.start_upload(b, "up-b", 5 << 20).unwrap();
        assert!(c.delete_clip(a).unwrap());
        assert!(c.delete_clip(b).unwrap());
        let mut q = c.store_deletions(10).unwrap();
        q.sort();
        assert_eq!(
            q,
            vec![
                ("front/a.mp4".to_owned(), None),
                ("front/b.mp4".to_owned(), Some("up-b".to_owned()))
            ]
        );
        let local = c
            .insert_clip(&new_clip("front", "front/c.mp4", None))
            .unwrap();
        c.delete_clip(local).unwrap();
        assert_eq!(
            c.store_backlog().unwrap().deletions,
            2,
            "a local clip has no object"
        );
        c.store_deleted("front/a.mp4").unwrap();
        c.store_deleted("front/b.mp4").unwrap();
        assert!(c.store_deletions(10).unwrap().is_empty());
    });
}
