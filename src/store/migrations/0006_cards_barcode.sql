-- ID123 import links each mobile card to the local card with its barcode: without an
-- index that is a scan of every card per imported card.
CREATE INDEX cards_barcode ON cards (barcode) WHERE barcode IS NOT NULL;
