-- Holder photos (README "Photos"), JPEG or PNG as checked by src/render/portrait.rs. A table
-- of their own: the person rows searches and the sync read stay small. `sha256` lets a pull
-- tell an unchanged photo without comparing the bytes.
CREATE TABLE person_photos (
    person_id  INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    image      BLOB NOT NULL,
    sha256     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
