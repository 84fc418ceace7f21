"""Local disk: the spool of sealed minute batches."""
