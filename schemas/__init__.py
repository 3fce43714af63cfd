"""Data package: makes schemas/ importable as lfs_meta.schemas so an installed copy finds the schema."""
