-- Station operators: who may sign in, in which role. PINs are kept only as Argon2id hashes
-- (PHC strings); repeated failures lock the name for a while.
CREATE TABLE operators (
    name             TEXT PRIMARY KEY,
    role             TEXT NOT NULL CHECK (role IN ('operator', 'printer', 'admin')),
    pin_hash         TEXT NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until     TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
