//! The replication engine (pull, outbox push, conflict rules): filled by the store and replication issue.
