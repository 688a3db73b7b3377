-- When a row was last sent (Unix milliseconds): a run that restarts right after a crash waits
-- until a create still in flight then has had time to take effect before looking it up.
ALTER TABLE outbox ADD COLUMN attempted_at_ms INTEGER;
