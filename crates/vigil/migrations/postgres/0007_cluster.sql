-- PostgreSQL: as SQLite's 0007_cluster.sql. Several nodes sharing one catalog (docs/cluster.md). Each clip says which node wrote it (''
-- on a single vigil): a node reconciles, uploads and deletes by retention only its own clips.
ALTER TABLE clip ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX clip_node ON clip(node);

-- The nodes, and where their HTTP API is: a request for a camera another node records is
-- passed to it. seen_at: the catalog's clock when the node last said it was alive.
CREATE TABLE cluster_node (
    name        TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    seen_at     BIGINT NOT NULL
);

-- Who records each camera, until when (the catalog's clock, µs). epoch counts the owners the
-- camera has had: it grows at every takeover.
CREATE TABLE camera_lease (
    camera      TEXT PRIMARY KEY,
    node        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    epoch       BIGINT NOT NULL
);
