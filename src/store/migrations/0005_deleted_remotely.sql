-- Objects the server no longer lists. A complete pull of a resource (every page read, no
-- error, no cancellation) stamps local rows whose `remote_id` it did not see; rows are
-- never deleted, since cards are referenced by validations and productions. A row whose
-- object comes back is cleared by the next upsert. Rows with pending outbox changes are
-- left alone (the push decides what happens to them).
ALTER TABLE persons ADD COLUMN deleted_remotely_at TEXT;
ALTER TABLE addresses ADD COLUMN deleted_remotely_at TEXT;
ALTER TABLE anonymous_sets ADD COLUMN deleted_remotely_at TEXT;
ALTER TABLE cardholders ADD COLUMN deleted_remotely_at TEXT;
ALTER TABLE cards ADD COLUMN deleted_remotely_at TEXT;
ALTER TABLE productions ADD COLUMN deleted_remotely_at TEXT;
CREATE INDEX cardholders_anonymous_set ON cardholders (anonymous_set_id)
    WHERE anonymous_set_id IS NOT NULL;
