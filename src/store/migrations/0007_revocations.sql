-- What a kiosk refuses in a signer's certification path: certificates revoked by hand
-- (`cardstation trust revoke`) and the serials of loaded CRLs (`cardstation trust crl add`).

-- One CRL per issuer: a newer CRL from the same issuer replaces the older one (and its
-- serials), since each CRL lists everything its issuer has revoked.
CREATE TABLE crls (
    id             INTEGER PRIMARY KEY,
    issuer         BLOB NOT NULL UNIQUE,   -- DER Name
    issuer_subject TEXT NOT NULL,
    this_update    TEXT NOT NULL,          -- RFC 3339, UTC
    next_update    TEXT,                   -- RFC 3339, UTC
    crl            BLOB NOT NULL,          -- DER
    added_at       TEXT NOT NULL
);

CREATE TABLE revoked_certificates (
    id             INTEGER PRIMARY KEY,
    issuer         BLOB,                   -- DER Name; NULL: this serial whoever issued it
    issuer_subject TEXT,
    serial         TEXT NOT NULL,          -- upper-case hex, no leading zero bytes
    subject        TEXT,                   -- when revoked from a certificate file
    crl_id         INTEGER REFERENCES crls (id) ON DELETE CASCADE,  -- NULL: revoked by hand
    added_at       TEXT NOT NULL
);
CREATE INDEX revoked_certificates_crl ON revoked_certificates (crl_id);
