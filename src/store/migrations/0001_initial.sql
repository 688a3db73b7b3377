-- Cardstation store, schema version 1.
-- Tables that mirror CardExchange Cloud objects carry a local integer `id`, the server's
-- `remote_id` (NULL until the object exists on the server) and `updated_at` (RFC 3339 UTC).
-- Enumerations use the server's own spellings so sync copies values unchanged.

CREATE TABLE persons (
    id             INTEGER PRIMARY KEY,
    remote_id      TEXT UNIQUE,
    person_number  TEXT UNIQUE,
    first_name     TEXT NOT NULL,
    middle_name    TEXT,
    last_name      TEXT NOT NULL,
    birth_date     TEXT NOT NULL,          -- YYYY-MM-DD
    gender         TEXT NOT NULL DEFAULT 'not_specified'
                   CHECK (gender IN ('not_specified', 'female', 'male', 'other', 'decline')),
    phone_number   TEXT,
    mobile_number  TEXT,
    -- Polish registers, kept in the server object's metadata.
    album_number   TEXT,
    pesel          TEXT,
    status         TEXT NOT NULL DEFAULT 'none'
                   CHECK (status IN ('none', 'activated', 'blocked', 'expired', 'blacklisted', 'linked', 'unlinked')),
    photo          BLOB,
    metadata       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    updated_at     TEXT NOT NULL
);
CREATE INDEX persons_pesel ON persons (pesel) WHERE pesel IS NOT NULL;

CREATE TABLE addresses (
    id             INTEGER PRIMARY KEY,
    remote_id      TEXT UNIQUE,
    person_id      INTEGER NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    type           TEXT NOT NULL CHECK (type IN ('home', 'business', 'po_box')),
    street_address TEXT NOT NULL,
    locality       TEXT NOT NULL,
    region         TEXT NOT NULL,
    postal_code    TEXT NOT NULL,
    country        TEXT NOT NULL,
    metadata       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    updated_at     TEXT NOT NULL
);
CREATE INDEX addresses_person ON addresses (person_id);

CREATE TABLE anonymous_sets (
    id             INTEGER PRIMARY KEY,
    remote_id      TEXT UNIQUE,
    profile        TEXT NOT NULL,
    default_name   TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE cardholders (
    id               INTEGER PRIMARY KEY,
    remote_id        TEXT UNIQUE,
    -- NULL for the anonymous cardholders of an anonymous set.
    person_id        INTEGER REFERENCES persons (id) ON DELETE CASCADE,
    anonymous_set_id INTEGER REFERENCES anonymous_sets (id),
    profile          TEXT,                 -- server profile id; the sync fills it before a push
    profile_number   TEXT,
    login_id         TEXT,
    email            TEXT,
    department       TEXT,
    start_date       TEXT,
    end_date         TEXT,
    status           TEXT NOT NULL DEFAULT 'activated'
                     CHECK (status IN ('activated', 'blocked', 'expired', 'blacklisted', 'linked', 'unlinked')),
    name_on_card     TEXT,
    note             TEXT,
    metadata         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    updated_at       TEXT NOT NULL
);
CREATE INDEX cardholders_person ON cardholders (person_id);

CREATE TABLE cards (
    id                 INTEGER PRIMARY KEY,
    remote_id          TEXT UNIQUE,
    cardholder_id      INTEGER NOT NULL REFERENCES cardholders (id),
    card_number        TEXT UNIQUE,
    barcode            TEXT,
    type               TEXT NOT NULL CHECK (type IN ('student', 'phd', 'staff')),
    -- Chip UIDs in full length, upper-case hex; UNIQUE ignores NULLs (a card may lack a chip).
    contact_uid        TEXT UNIQUE CHECK (contact_uid IS NULL OR (
                           length(contact_uid) BETWEEN 8 AND 32 AND length(contact_uid) % 2 = 0
                           AND contact_uid NOT GLOB '*[^0-9A-F]*')),
    contactless_uid    TEXT UNIQUE CHECK (contactless_uid IS NULL OR (
                           length(contactless_uid) BETWEEN 8 AND 32 AND length(contactless_uid) % 2 = 0
                           AND contactless_uid NOT GLOB '*[^0-9A-F]*')),
    chip_serial_number TEXT,
    status             TEXT NOT NULL CHECK (status IN (
                           'initialized', 'in_production', 'personalized', 'withdrawn', 'activated',
                           'blocked', 'expired', 'blacklisted', 'issued', 'returned', 'destroyed',
                           'bulk_blocked', 'linked', 'unlinked')),
    expires            TEXT,               -- YYYY-MM-DD
    metadata           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    updated_at         TEXT NOT NULL
);
CREATE INDEX cards_cardholder ON cards (cardholder_id);

CREATE TABLE productions (
    id                 INTEGER PRIMARY KEY,
    remote_id          TEXT UNIQUE,
    person_id          INTEGER REFERENCES persons (id),
    cardholder_id      INTEGER REFERENCES cardholders (id),
    card_id            INTEGER NOT NULL REFERENCES cards (id),
    name_on_card       TEXT,
    chip_serial_number TEXT,
    user_name          TEXT,
    exported           INTEGER NOT NULL DEFAULT 0 CHECK (exported IN (0, 1)),
    printed_on         TEXT,
    number_of_tries    INTEGER NOT NULL DEFAULT 0 CHECK (number_of_tries >= 0),
    status             TEXT NOT NULL DEFAULT 'to_be_produced'
                       CHECK (status IN ('to_be_created', 'to_be_produced', 'produced', 'to_be_activated')),
    updated_at         TEXT NOT NULL
);
CREATE INDEX productions_card ON productions (card_id);

CREATE TABLE trusted_issuers (
    id          INTEGER PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE,      -- of the DER, upper-case hex
    subject     TEXT NOT NULL,
    certificate BLOB NOT NULL,             -- DER
    added_at    TEXT NOT NULL
);

-- The kiosk's log: no personal data beyond the holder id.
CREATE TABLE validations (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    uid_hash      TEXT NOT NULL,           -- sha256 of the chip UID, hex
    verdict       TEXT NOT NULL CHECK (verdict IN ('valid', 'expired', 'blocked', 'unknown', 'forged')),
    reason        TEXT NOT NULL,
    cardholder_id INTEGER REFERENCES cardholders (id) ON DELETE SET NULL
);
CREATE INDEX validations_at ON validations (at);

-- Append-only and hash-chained: hash = sha256(prev_hash || canonical row content).
-- AUTOINCREMENT keeps ids from being reused, so a deleted last row leaves a trace in
-- sqlite_sequence.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    operator  TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL CHECK (json_valid(details)),
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Local mutations waiting to be pushed; the sync deletes a row once the server has it.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,   -- push order
    resource     TEXT NOT NULL CHECK (resource IN (
                     'persons', 'addresses', 'cardholders', 'cards', 'productions', 'anonymous_sets')),
    local_id     INTEGER NOT NULL,
    operation    TEXT NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    payload      TEXT NOT NULL CHECK (json_valid(payload)),
    operation_id TEXT NOT NULL UNIQUE,     -- UUID, sent in metadata so a retried create is found
    created_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX outbox_object ON outbox (resource, local_id);

CREATE TABLE sync_state (
    resource     TEXT PRIMARY KEY,
    cursor       TEXT,
    last_sync_at TEXT
);

-- Search-as-you-type over people. The text is folded in Rust (Polish letters to ASCII,
-- lower case), so the index is kept in step by the Store in the same transactions
-- rather than by triggers, which could not call the folding function.
CREATE VIRTUAL TABLE people_fts USING fts5 (
    text,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);
