-- Cameras added or changed through the API (docs/cameras.md): each one's `[[camera]]` keys as
-- the JSON object the API took (its password included: the catalog is as private as the
-- config file). A config-file camera's entry here replaces the file's keys at start.
CREATE TABLE camera_config (
    name        TEXT PRIMARY KEY,
    entry       TEXT NOT NULL,
    from_api    INTEGER NOT NULL,       -- 1: added through the API; 0: a config-file camera changed
    updated_at  INTEGER NOT NULL
);
