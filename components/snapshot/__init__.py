"""DataSnapshot: the folder a run reads (the latest snapshot, optionally) and its fingerprint."""
