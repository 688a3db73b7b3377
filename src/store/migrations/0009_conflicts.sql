-- Conflicts the sync resolved (DESIGN.md 4): one row per field of a local change that met a
-- different server copy, with both values and the rule applied, so an administrator can see
-- (and redo) what was dropped. Each row also has an audit entry (`sync.conflict`, field names
-- and rule only).
CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY,
    resource     TEXT NOT NULL,
    local_id     INTEGER NOT NULL,
    remote_id    TEXT,
    field        TEXT NOT NULL,
    local_value  TEXT,
    server_value TEXT,
    rule         TEXT NOT NULL,
    resolved_at  TEXT NOT NULL
);
CREATE INDEX conflicts_object ON conflicts (resource, local_id);
