-- vigil catalog, schema version 1.
-- Times are INTEGER microseconds since the Unix epoch (UTC). Clip keys are paths relative to the
-- storage root, so the clip store can move (or become an object store) without a migration.

CREATE TABLE camera (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

-- Motion-recording settings changed through the API; they override the config file's values.
CREATE TABLE camera_settings (
    camera_id   INTEGER PRIMARY KEY REFERENCES camera(id) ON DELETE CASCADE,
    settings    TEXT NOT NULL,          -- JSON object of the API's config fields
    updated_at  INTEGER NOT NULL
);

CREATE TABLE motion_event (
    id              INTEGER PRIMARY KEY,
    camera_id       INTEGER NOT NULL REFERENCES camera(id) ON DELETE CASCADE,
    source          TEXT NOT NULL,      -- onvif | api | demo | detector
    started_at      INTEGER NOT NULL,   -- local clock
    ended_at        INTEGER,            -- local clock; NULL while motion is on
    camera_started_at INTEGER,          -- the camera's own time for it, when it sent one
    camera_ended_at INTEGER,
    overlaps        INTEGER NOT NULL DEFAULT 0,
    timed_out       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX motion_event_camera_start ON motion_event(camera_id, started_at);

CREATE TABLE clip (
    id              INTEGER PRIMARY KEY,
    camera_id       INTEGER NOT NULL REFERENCES camera(id) ON DELETE CASCADE,
    event_id        INTEGER REFERENCES motion_event(id) ON DELETE SET NULL,
    key             TEXT NOT NULL UNIQUE,   -- path relative to the storage root
    status          TEXT NOT NULL CHECK (status IN ('recording', 'complete', 'recovered')),
    start_at        INTEGER,            -- first frame (pre-roll included)
    end_at          INTEGER,
    duration_secs   REAL NOT NULL DEFAULT 0,
    bytes           INTEGER NOT NULL DEFAULT 0,
    frames          INTEGER NOT NULL DEFAULT 0,
    video_codec     TEXT NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    pre_roll_secs   REAL NOT NULL DEFAULT 0,
    trigger         TEXT NOT NULL,
    close_reason    TEXT,
    protected       INTEGER NOT NULL DEFAULT 0,
    opened_at       INTEGER NOT NULL
);
CREATE INDEX clip_camera_start ON clip(camera_id, start_at);
CREATE INDEX clip_status ON clip(status);
