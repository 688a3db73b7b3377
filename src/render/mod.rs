//! Barcodes and card layouts rendered for printing: filled by the print-station issue.
