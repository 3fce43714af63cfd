"""The working tree's pulled files: downloads, their records and digests, and git's exclude block."""
