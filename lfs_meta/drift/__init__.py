"""Drift: what changed in the stores since the index recorded them (`compare`, pure) and reading
the stores as cheaply as possible (`scan`)."""
