"""The package's architecture, read from its source: layers import only downwards, no command imports
another, git is spawned from one module, and the README's module map names every module."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "lfs_meta"
# Lowest first. A module may import its own layer and the layers below it, never one above.
BASE = (
    "lfs_meta.codekey",
    "lfs_meta.errors",
    "lfs_meta.gcpause",
    "lfs_meta.gitnames",
    "lfs_meta.progress",
    "lfs_meta.terminal",
    "lfs_meta.workers",
)
LAYERS = (
    ("base", ("lfs_meta", *BASE)),
    ("fs, processes", ("lfs_meta.fs", "lfs_meta.processes")),
    ("index", ("lfs_meta.index",)),
    ("git, providers", ("lfs_meta.git", "lfs_meta.config", "lfs_meta.repo", "lfs_meta.providers")),
    (
        "domain",
        (
            "lfs_meta.drift",
            "lfs_meta.worktree",
            "lfs_meta.fhir",
            "lfs_meta.tracking",
            "lfs_meta.githooks",
            "lfs_meta.mergeconfig",
            "lfs_meta.catalog",
            "lfs_meta.checksum",
            "lfs_meta.inventory",
        ),
    ),
    ("commands", ("lfs_meta.commands",)),
    ("cli", ("lfs_meta.cli", "lfs_meta.__main__")),
)
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def rank(name: str) -> int:
    """The layer of a module: that of the longest listed name it is, or is inside; KeyError for a
    module no layer names (the package itself names only its __init__)."""
    while name not in RANK:
        name = name.rpartition(".")[0]
        if name == "lfs_meta":
            raise KeyError(name)
    return RANK[name]


def imports(path: Path) -> set[str]:
    """Every lfs_meta module that `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return {name for name in found if name == "lfs_meta" or name.startswith("lfs_meta.")}


def test_every_module_has_a_layer() -> None:
    assert len(MODULES) > 40
    for name in MODULES:
        rank(name)
    with pytest.raises(KeyError):
        rank("lfs_meta.unlisted")


def test_imports_are_absolute() -> None:
    """Relative imports would slip past `imports`; the package has none."""
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(node, ast.ImportFrom) and node.level), name


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_higher_layer(name: str) -> None:
    upward = sorted(imported for imported in imports(MODULES[name]) if rank(imported) > rank(name))
    assert upward == [], f"{name} ({LAYERS[rank(name)][0]}) imports from above it"


def test_base_modules_import_nothing_of_lfs_meta() -> None:
    for name in BASE:
        assert imports(MODULES[name]) == set(), name


def test_no_command_imports_another() -> None:
    commands = {name for name in MODULES if name.startswith("lfs_meta.commands.")}
    assert len(commands) >= 12
    for name in commands:
        assert imports(MODULES[name]) & commands == set(), name


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The import reader finds imports inside functions too, so a lazy upward import is caught."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from lfs_meta.commands import check\n    from lfs_meta import fs\n")
    found = imports(source)
    assert found == {"lfs_meta.commands.check", "lfs_meta.fs"}
    assert max(rank(name) for name in found) > rank("lfs_meta.index.storage")


def test_git_is_spawned_from_one_module() -> None:
    spawning = re.compile(r"\bsubprocess\b|\bos\.(system|popen|exec\w*|spawn\w*|posix_spawn\w*)\(")
    spawners = sorted(name for name, path in MODULES.items() if spawning.search(path.read_text()))
    assert spawners == ["lfs_meta.git"]


def test_gitpython_is_not_imported() -> None:
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(alias.name.split(".")[0] != "git" for alias in node.names), name
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert node.module.split(".")[0] != "git", name


def test_the_readme_module_map_names_every_module_and_nothing_else() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Module map", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"\b((?:[a-z0-9_]+/)*[a-z0-9_]+\.py)\b", section))
    actual = {path.relative_to(PACKAGE).as_posix() for path in MODULES.values()}
    assert sorted(actual - listed) == [], "modules the README's map leaves out"
    assert sorted(listed - actual) == [], "modules the README's map names that do not exist"


def test_setup_cfg_ships_every_package() -> None:
    """pre-commit installs lfs-meta with `pip install .`: a package left out of setup.cfg is missing there."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    listed = set(parser.get("options", "packages").split())
    packages = {module_name(path) for path in PACKAGE.rglob("__init__.py")}
    assert listed == packages | {"lfs_meta.hooks", "lfs_meta.schemas"}
