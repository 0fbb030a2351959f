-- Motion-detection settings changed through the API, as SQLite's 0003_detect_settings.sql.
CREATE TABLE camera_detect (
    camera_id   BIGINT PRIMARY KEY REFERENCES camera(id) ON DELETE CASCADE,
    settings    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
