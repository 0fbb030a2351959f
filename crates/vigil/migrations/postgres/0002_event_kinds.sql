-- Event kinds (docs/events.md), as SQLite's 0002_event_kinds.sql.
ALTER TABLE motion_event ADD COLUMN kind TEXT NOT NULL DEFAULT 'motion';
CREATE INDEX motion_event_kind_start ON motion_event(kind, started_at);

CREATE TABLE event_clip (
    event_id        BIGINT NOT NULL REFERENCES motion_event(id) ON DELETE CASCADE,
    clip_id         BIGINT NOT NULL REFERENCES clip(id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, clip_id)
);
CREATE INDEX event_clip_clip ON event_clip(clip_id);
INSERT INTO event_clip (event_id, clip_id) SELECT event_id, id FROM clip WHERE event_id IS NOT NULL;
