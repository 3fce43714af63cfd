"""The index JSON Schema, read from the installed package (schemas/ in the source tree)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

SCHEMA_FILE = "metadata.schema.json"


@functools.cache
def load_schema() -> dict[str, Any]:
    text = resources.files("lfs_meta.schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def validator() -> jsonschema.protocols.Validator:
    import jsonschema  # only where validation happens: the schema text alone is read elsewhere

    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def entry_fields() -> list[str]:
    return sorted(load_schema()["$defs"]["entry"]["properties"])
