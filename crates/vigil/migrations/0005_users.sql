-- Users and their sessions (docs/users.md). Passwords are argon2id hashes (PHC strings);
-- a session is kept as the SHA-256 of its cookie, never the cookie itself.
CREATE TABLE user (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    hash        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE session (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX session_expires ON session(expires_at);
