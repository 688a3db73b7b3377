//! The local SQLite store (persons, cardholders, cards, productions, audit log, outbox): filled by the store and replication issue.
