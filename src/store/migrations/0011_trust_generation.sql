-- A counter every change to the kiosk's trust list bumps: trusted issuers, revocations and
-- CRLs, whoever writes them (`cardstation trust ...`, the settings screen, another station
-- process on the same file). A running kiosk reads this one row before a tap and reloads the
-- trust list only when it moved, instead of reading every certificate on every tap.
CREATE TABLE trust_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO trust_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER trusted_issuers_added AFTER INSERT ON trusted_issuers
BEGIN UPDATE trust_generation SET generation = generation + 1; END;
CREATE TRIGGER trusted_issuers_changed AFTER UPDATE ON trusted_issuers
BEGIN UPDATE trust_generation SET generation = generation + 1; END;
CREATE TRIGGER trusted_issuers_removed AFTER DELETE ON trusted_issuers
BEGIN UPDATE trust_generation SET generation = generation + 1; END;

CREATE TRIGGER revoked_certificates_added AFTER INSERT ON revoked_certificates
BEGIN UPDATE trust_generation SET generation = generation + 1; END;
CREATE TRIGGER revoked_certificates_changed AFTER UPDATE ON revoked_certificates
BEGIN UPDATE trust_generation SET generation = generation + 1; END;
CREATE TRIGGER revoked_certificates_removed AFTER DELETE ON revoked_certificates
BEGIN UPDATE trust_generation SET generation = generation + 1; END;

CREATE TRIGGER crls_added AFTER INSERT ON crls
BEGIN UPDATE trust_generation SET generation = generation + 1; END;
CREATE TRIGGER crls_changed AFTER UPDATE ON crls
BEGIN UPDATE trust_generation SET generation = generation + 1; END;
CREATE TRIGGER crls_removed AFTER DELETE ON crls
BEGIN UPDATE trust_generation SET generation = generation + 1; END;
