-- Whether the card was issued with the university DESFire application: the kiosk then asks
-- the chip for the DESFire proof (its EF.ELS alone can be copied).
ALTER TABLE cards ADD COLUMN desfire_issued INTEGER NOT NULL DEFAULT 0;
