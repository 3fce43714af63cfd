"""Filling in the checksums entries lack: from the stores' metadata, S3 Batch Operations reports, a read."""
