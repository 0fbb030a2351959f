-- Event kinds (docs/events.md): every event has a kind; events before this were plain motion.
-- Forward-only: every existing row is kept.
ALTER TABLE motion_event ADD COLUMN kind TEXT NOT NULL DEFAULT 'motion';
CREATE INDEX motion_event_kind_start ON motion_event(kind, started_at);

-- Which events happened during which clip. A clip's kinds are its events' kinds; an event's
-- clips are listed from here (clip.event_id stays: the event that opened the clip).
CREATE TABLE event_clip (
    event_id        INTEGER NOT NULL REFERENCES motion_event(id) ON DELETE CASCADE,
    clip_id         INTEGER NOT NULL REFERENCES clip(id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, clip_id)
) WITHOUT ROWID;
CREATE INDEX event_clip_clip ON event_clip(clip_id);
INSERT INTO event_clip (event_id, clip_id) SELECT event_id, id FROM clip WHERE event_id IS NOT NULL;
