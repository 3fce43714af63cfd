"""The index: its entries, its strict JSON, its rules and schema, and (in `storage`) the only code
that knows how it is kept on disk."""
