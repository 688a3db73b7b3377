-- Mobile and digital cards issued elsewhere (ID123), imported by `cardstation import id123`.
-- Kept apart from `cards`: they have no chip and their holders carry no birth date, so they
-- cannot be persons of their own; a card whose barcode the station knows is linked to it.
CREATE TABLE mobile_cards (
    id                INTEGER PRIMARY KEY,
    source            TEXT NOT NULL CHECK (source IN ('id123')),
    remote_id         TEXT NOT NULL,
    template_id       TEXT,
    status            TEXT,
    sub_status        TEXT,
    barcode           TEXT,
    photo_url         TEXT,
    name              TEXT,
    -- The card's name fields, {"key": "value", ...}.
    name_fields       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(name_fields)),
    title             TEXT,
    institution       TEXT,
    expires           TEXT,
    remote_updated_at TEXT,
    card_id           INTEGER REFERENCES cards (id) ON DELETE SET NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (source, remote_id)
);
CREATE INDEX mobile_cards_barcode ON mobile_cards (barcode) WHERE barcode IS NOT NULL;
