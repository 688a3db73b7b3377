-- USOS prolongations under way at this station (README "USOS and ID123"): a row is made
-- before USOS's newer structure is written to the chip (state 'writing'), becomes 'written'
-- once the chip verifies, and is deleted once `mark_student_card_prolonged` succeeded. A
-- row left behind (USOS unreachable, the station killed) is what lets a retry tell USOS
-- instead of refusing the card as not later than USOS's structure.
CREATE TABLE usos_prolongations (
    chip           TEXT PRIMARY KEY,
    expires        TEXT NOT NULL,
    date_prolonged TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('writing', 'written')),
    operator       TEXT NOT NULL,
    last_error     TEXT,
    updated_at     TEXT NOT NULL
);
