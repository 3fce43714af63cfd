"""The stores' own inventory reports (S3 Inventory, GCS inventory reports, Azure blob inventory), read
in place of listing: `manifest` (what a report says of itself, pure), `columns` (its rows in the
index's terms, pure), `fetching` (the report's files, through the providers), `table` (the rows, with
pyarrow, the optional extra), `reports` (the reports a command is given), `joining` (the index joined
with their rows, for check --inventory)."""
