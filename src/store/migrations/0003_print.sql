-- Cardstation store, schema version 2: the print station's batches and its numbered
-- hologram stickers.

-- One run of the print queue: who ran it and when.
CREATE TABLE print_batches (
    id          INTEGER PRIMARY KEY,
    operator    TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);

-- Hologram stickers (proof of a valid ELS, renewed at prolongation) are numbered stock.
-- A number is added once; a batch reserves numbers before it starts, each card it produces
-- uses one, and whatever the batch did not use goes back to stock when it finishes.
CREATE TABLE holograms (
    number        INTEGER PRIMARY KEY CHECK (number > 0),
    added_at      TEXT NOT NULL,
    batch_id      INTEGER REFERENCES print_batches (id),
    production_id INTEGER REFERENCES productions (id),
    used_at       TEXT,
    CHECK ((production_id IS NULL) = (used_at IS NULL))
);
CREATE INDEX holograms_batch ON holograms (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX holograms_production ON holograms (production_id) WHERE production_id IS NOT NULL;
