//! Typed clients for CardExchange Cloud, USOS and ID123: filled by the replication and connector issues.
