-- A production can end without a card in the holder's hands: `cancelled` (ordered, never
-- printed) or `withdrawn` (printed, then taken back). SQLite cannot change a CHECK in
-- place, so the table is rebuilt; `defer_foreign_keys` lets the holograms that name
-- productions point at the new table by the time the migration commits.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE productions_new (
    id                  INTEGER PRIMARY KEY,
    remote_id           TEXT UNIQUE,
    person_id           INTEGER REFERENCES persons (id),
    cardholder_id       INTEGER REFERENCES cardholders (id),
    card_id             INTEGER NOT NULL REFERENCES cards (id),
    name_on_card        TEXT,
    chip_serial_number  TEXT,
    user_name           TEXT,
    exported            INTEGER NOT NULL DEFAULT 0 CHECK (exported IN (0, 1)),
    printed_on          TEXT,
    number_of_tries     INTEGER NOT NULL DEFAULT 0 CHECK (number_of_tries >= 0),
    status              TEXT NOT NULL DEFAULT 'to_be_produced'
                        CHECK (status IN ('to_be_created', 'to_be_produced', 'produced',
                                          'to_be_activated', 'cancelled', 'withdrawn')),
    updated_at          TEXT NOT NULL,
    deleted_remotely_at TEXT
);
INSERT INTO productions_new (id, remote_id, person_id, cardholder_id, card_id, name_on_card,
        chip_serial_number, user_name, exported, printed_on, number_of_tries, status,
        updated_at, deleted_remotely_at)
    SELECT id, remote_id, person_id, cardholder_id, card_id, name_on_card, chip_serial_number,
        user_name, exported, printed_on, number_of_tries, status, updated_at, deleted_remotely_at
    FROM productions;
DROP TABLE productions;
ALTER TABLE productions_new RENAME TO productions;
CREATE INDEX productions_card ON productions (card_id);
