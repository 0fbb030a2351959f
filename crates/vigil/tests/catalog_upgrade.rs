//! A catalog written by the previous release (schema version 1, before event kinds: a real
//! `vigil demo` run's `catalog.db`, in `fixtures/catalog-v1.db`) opens with this one: migrated
//! forward, every clip and event intact, old events are `motion`, each clip's kinds come from its
//! event.

use vigil::catalog::{Catalog, ClipFilter, EventFilter};
use vigil_core::kind::EventKind;

#[test]
fn a_version_1_catalog_migrates_with_its_clips_and_events_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/catalog-v1.db"),
        &path,
    )
    .unwrap();

    // What version 1 held, read with plain SQL before the migration.
    let (clips_before, events_before) = {
        let c = rusqlite::Connection::open(&path).unwrap();
        let v: u32 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1, "the fixture is a version 1 catalog");
        let clips: Vec<(i64, Option<i64>, String, i64)> = c
            .prepare("SELECT id, event_id, key, bytes FROM clip ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let events: Vec<(i64, String, i64, Option<i64>)> = c
            .prepare("SELECT id, source, started_at, ended_at FROM motion_event ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (clips, events)
    };
    assert_eq!((clips_before.len(), events_before.len()), (3, 3));

    let cat = Catalog::open(&path).expect("the old catalog opens and migrates");
    let clips = cat.clips(&ClipFilter::default()).unwrap();
    assert_eq!(clips.len(), 3);
    for (id, event_id, key, bytes) in &clips_before {
        let c = clips.iter().find(|c| c.id == *id).unwrap();
        assert_eq!(
            (&c.event_id, &c.key, c.bytes as i64),
            (event_id, key, *bytes)
        );
        assert_eq!(c.kinds.names(), ["motion"], "clip {id}");
    }
    let events = cat.events(&EventFilter::default()).unwrap();
    assert_eq!(events.len(), 3);
    for (id, source, start, end) in &events_before {
        let e = events.iter().find(|e| e.id == *id).unwrap();
        assert_eq!(&e.source, source);
        assert_eq!(e.kind, "motion");
        assert_eq!(e.start.map(|t| t.0), Some(*start));
        assert_eq!(e.end.map(|t| t.0), *end);
        let clip = clips_before.iter().find(|c| c.1 == Some(*id)).unwrap();
        assert_eq!(e.clip_ids, [clip.0], "event {id} keeps its clip");
    }
    // The kind filters see the old rows as motion.
    let motion = |k| ClipFilter {
        kind: Some(k),
        ..Default::default()
    };
    assert_eq!(cat.clips(&motion(EventKind::Motion)).unwrap().len(), 3);
    assert!(cat.clips(&motion(EventKind::Person)).unwrap().is_empty());
    let ev = |k| EventFilter {
        kind: Some(k),
        ..Default::default()
    };
    assert_eq!(cat.events(&ev(EventKind::Motion)).unwrap().len(), 3);
    assert!(cat.events(&ev(EventKind::Vehicle)).unwrap().is_empty());
    drop(cat);

    // Opening it again migrates nothing more and changes nothing.
    let v: u32 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, vigil::catalog::SCHEMA_VERSION, "every migration applied");
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.clips(&ClipFilter::default()).unwrap(), clips);
}
