"""Data package: makes hooks/ importable as lfs_meta.hooks so `lfs-meta install-hooks` finds the scripts."""
