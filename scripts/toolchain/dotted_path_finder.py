"""Let `brownie run` import a script whose absolute path has a dot in a directory name.

brownie 1.22 imports `/home/a.b/scorechain/scripts/01_deploy.py` as the module
`home.a.b.scorechain.scripts.01_deploy`, from "/" as namespace packages; the dot in `a.b` splits
that name, so the import fails with ModuleNotFoundError (its compiled importer cannot be patched).
This finder is a last resort on `sys.meta_path`: only when every normal finder has missed a name
does it look for a directory whose name continues with a dot (`a` + `.b`) and offer it as a
namespace package, so `home.a` then `home.a.b` resolve to `/home/a.b`. Names that import today
are untouched. Set-up copies this file into the venv and imports it from a `.pth` line.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys


def _candidates(entry: str, name: str) -> list[str]:
    # An entry ending with "." is a partial directory name left by a previous component.
    if entry.endswith("."):
        return [entry + name]
    return [os.path.join(entry, name), f"{entry}.{name}"]


def _has_dotted_continuation(prefix: str) -> bool:
    parent, stem = os.path.split(prefix)
    try:
        return any(child.startswith(stem + ".") for child in os.listdir(parent or "."))
    except OSError:
        return False


class DottedDirectoryFinder:
    """Resolves a package name across directory names that contain dots."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):  # noqa: ARG003 (finder protocol)
        if path is None:
            return None
        name = fullname.rpartition(".")[2]
        locations: list[str] = []
        for entry in path:
            for candidate in _candidates(str(entry), name):
                if os.path.isdir(candidate):
                    locations.append(candidate)
                if _has_dotted_continuation(candidate):
                    locations.append(candidate + ".")
        if not locations:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
        spec.submodule_search_locations = locations
        return spec


def install() -> None:
    if not any(finder is DottedDirectoryFinder for finder in sys.meta_path):
        sys.meta_path.append(DottedDirectoryFinder)


install()
