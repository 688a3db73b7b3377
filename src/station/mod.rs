//! The issuance, prolongation, print and validation workflows as plain logic over a transport and a store: filled by the ELS, print and kiosk issues.
