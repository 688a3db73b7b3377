-- Cardstation store: a USOS prolongation at a desk with `[holograms] prolong` names the
-- sticker going on the card when it begins (README "Holograms at the desk"). The sticker
-- leaves the stock in the transaction that records the verified write; a retry that only
-- tells USOS, or finishes a write begun earlier, takes this one and no other.
ALTER TABLE usos_prolongations ADD COLUMN hologram INTEGER;
