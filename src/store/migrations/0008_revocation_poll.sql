-- The revocation fast path's lease (one row): when the sync last read every card in a
-- refusal status, and how old that may get before the kiosk's verdicts say so (the profile's
-- [kiosk] max_revocation_age_seconds, written by the sync that polls, so a kiosk whose sync
-- stopped notices without knowing the sync's profile). No row: nobody polls, and only the
-- register-age rule applies.
CREATE TABLE revocation_poll (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    polled_at           TEXT NOT NULL,
    stale_after_seconds INTEGER NOT NULL
);
