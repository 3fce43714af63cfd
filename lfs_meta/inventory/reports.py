"""The reports a command was given, each opened, checked complete and fresh enough, and spilled."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lfs_meta.errors import UserError
from lfs_meta.index.entry import Entry
from lfs_meta.inventory import columns, fetching, table
from lfs_meta.inventory.joining import Loaded
from lfs_meta.inventory.manifest import Report, Source, shown
from lfs_meta.providers import Providers


def load(
    providers: Providers,
    given: Sequence[str],
    scratch: Path,
    max_age: timedelta | None,
    now: datetime | None = None,
) -> dict[Source, Loaded]:
    """Each report's rows in `scratch`, by the bucket (Azure: account) it lists."""
    table.pyarrow()  # a missing extra is said before any request
    loaded: dict[Source, Loaded] = {}
    for number, manifest_url in enumerate(given):
        report = fetching.open_report(providers, manifest_url)
        refuse_stale(report, max_age, now or datetime.now(UTC))
        if report.source in loaded:
            raise UserError(
                f"{shown(report.manifest_url)}: a second report of {report.source_url}; give one per bucket"
            )
        files = fetching.data_files(providers, report, scratch)
        loaded[report.source] = Loaded(report, table.spill(report, files, scratch / f"report-{number}.arrow"))
    return loaded


def refuse_stale(report: Report, max_age: timedelta | None, now: datetime) -> None:
    age = now - report.snapshot
    if max_age is not None and age > max_age:
        raise UserError(
            f"{shown(report.manifest_url)}: the report was taken {age_text(age)} ago, more than --max-age "
            f"{age_text(max_age)}; give a newer report or a larger --max-age"
        )


def age_text(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def objects_under(loaded: Loaded, prefix: str) -> Iterator[tuple[str, Entry]]:
    """(name below `prefix`, the entry a listing would give) of each object the report lists there."""
    report = loaded.report
    for row in loaded.spill.under(prefix):
        if row["size"] is None:
            raise UserError(
                f"{shown(report.manifest_url)}: lists {shown(row['name'])} with no size; "
                "add the object's size to the report's fields"
            )
        name = str(row["name"])
        yield name[len(prefix) :], columns.entry(report, columns.url_of(report, name), row)
