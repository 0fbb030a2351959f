-- PostgreSQL: as SQLite's 0006_clip_store.sql. The clip store (docs/cluster.md): where each clip's bytes are, and the upload journal that
-- lets an upload go on after a crash or a store outage from the last part the store took.
ALTER TABLE clip ADD COLUMN store_status TEXT NOT NULL DEFAULT 'local'
    CHECK (store_status IN ('local', 'uploading', 'stored'));
ALTER TABLE clip ADD COLUMN stored_at BIGINT;          -- when the store took the whole clip
ALTER TABLE clip ADD COLUMN local_deleted BIGINT NOT NULL DEFAULT 0;  -- 1: only the store has it
ALTER TABLE clip ADD COLUMN sha256 TEXT;                -- of the whole file, once uploaded
CREATE INDEX clip_store_status ON clip(store_status);

-- One row per upload in progress: the store's multipart id and the parts it took, in order.
CREATE TABLE clip_upload (
    clip_id     BIGINT PRIMARY KEY REFERENCES clip(id) ON DELETE CASCADE,
    upload_id   TEXT NOT NULL,
    part_size   BIGINT NOT NULL,
    parts       TEXT NOT NULL DEFAULT '',   -- the parts' ETags, comma-separated, in part order
    started_at  BIGINT NOT NULL
);

-- Objects to delete from the store (a clip deleted by retention or the API); kept until the
-- store says they are gone, so a store that is down loses no deletion.
CREATE TABLE store_delete (
    key         TEXT PRIMARY KEY,
    upload_id   TEXT,                       -- an unfinished multipart upload to abort instead
    queued_at   BIGINT NOT NULL
);
