-- Motion-detection settings changed through the API (docs/detection.md), per camera: the
-- camera's `detect*` keys as a JSON object; they replace the config file's at start.
CREATE TABLE camera_detect (
    camera_id   INTEGER PRIMARY KEY REFERENCES camera(id) ON DELETE CASCADE,
    settings    TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
