-- Cardstation store: a hologram sticker can also go on a card at the desk's prolongation
-- (README "Holograms at the desk"). Such a sticker leaves the stock like one a print batch
-- used: it is no longer free, and names the card it went on and when.
ALTER TABLE holograms ADD COLUMN card_id INTEGER REFERENCES cards (id);
ALTER TABLE holograms ADD COLUMN prolonged_at TEXT
    CHECK ((card_id IS NULL) = (prolonged_at IS NULL));
CREATE INDEX holograms_card ON holograms (card_id) WHERE card_id IS NOT NULL;
