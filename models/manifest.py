"""The bundle manifest: one hash over everything in a bundle that determines a signed output.

A bundle's outputs (PD, score, reason codes, features commitment) depend on the ONNX bytes, the
feature schema (validation, order, categories, missing policy), ``reference.json`` (reference
values and the reason-code table) and the serving rules in :mod:`models.serving` (quantisation,
score mapping). ``manifest.json`` lists the SHA-256 of each of those files and names the serving
rules; the **bundle id** is the SHA-256 of the manifest file's bytes::

    sha256sum models/default/manifest.json      # = the modelId registered in ModelRegistry

so an auditor needs nothing but ``sha256sum`` to tie a bundle to its on-chain registration, and an
edit to any listed file (or to the manifest) changes the id or fails :func:`check`. The manifest is
written in canonical JSON (sorted keys, no spaces, one trailing newline), so rebuilding it from the
same files gives the same bytes. Model card, plots and parity data are not listed: they describe
the model but do not change what it signs.

Pure functions over bytes; :func:`read_files` and :func:`write` are the only I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

MANIFEST_FILE = "manifest.json"
REFERENCE_FILE = "reference.json"
FORMAT = "scorechain-bundle/1"
# Names the scoring rules of models.serving (reason-code quantum and ranking, PD -> bps -> score).
# A change to those rules must change this string, so old bundle ids cannot claim the new rules.
# /2: the elderly rule and reason codes by direction (models.serving docstring).
SERVING_RULES = "scorechain-serving/2"


class BundleIntegrityError(RuntimeError):
    """The files of a bundle do not match each other or its manifest."""


@dataclass(frozen=True)
class BundleFiles:
    """The bytes of a bundle's output-determining files, read once (hash what you load)."""

    onnx_file: str
    schema_file: str
    reference: bytes
    schema: bytes
    onnx: bytes
    manifest: bytes | None  # None when the bundle has no manifest yet

    def hashes(self) -> dict[str, str]:
        return {REFERENCE_FILE: _sha(self.reference), self.schema_file: _sha(self.schema),
                self.onnx_file: _sha(self.onnx)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_files(bundle_dir: str | Path) -> BundleFiles:
    """Read reference.json, the schema and ONNX files it names, and the manifest (if any)."""
    bundle_dir = Path(bundle_dir)
    try:
        reference = (bundle_dir / REFERENCE_FILE).read_bytes()
        ref = json.loads(reference)
        onnx_file, schema_file = ref["onnx_file"], ref["schema_file"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleIntegrityError(f"{bundle_dir} is not a model bundle ({REFERENCE_FILE}: "
                                   f"{exc})") from None
    for name in (onnx_file, schema_file):
        if not isinstance(name, str) or Path(name).name != name or name in (MANIFEST_FILE,
                                                                             REFERENCE_FILE):
            raise BundleIntegrityError(f"{REFERENCE_FILE} names {name!r}: a bundle's files must "
                                       "be plain names inside the bundle directory")
    try:
        schema = (bundle_dir / schema_file).read_bytes()
        onnx = (bundle_dir / onnx_file).read_bytes()
    except OSError as exc:
        raise BundleIntegrityError(f"{bundle_dir}: cannot read a bundle file: {exc}") from None
    path = bundle_dir / MANIFEST_FILE
    manifest = path.read_bytes() if path.is_file() else None
    return BundleFiles(onnx_file, schema_file, reference, schema, onnx, manifest)


def build(files: BundleFiles) -> bytes:
    """The manifest bytes for these files (canonical JSON + newline)."""
    doc = {"format": FORMAT, "serving_rules": SERVING_RULES, "files": files.hashes()}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def bundle_id(manifest: bytes) -> str:
    """The bundle id (hex): SHA-256 of the manifest file's bytes."""
    return _sha(manifest)


def check(files: BundleFiles) -> str:
    """The bundle id, after checking that the manifest lists exactly these files' hashes.

    Raises BundleIntegrityError naming the first file that differs, so an operator or auditor
    sees *which* file was edited after the manifest (and so the registered id) was made.
    """
    if files.manifest is None:
        raise BundleIntegrityError(
            f"no {MANIFEST_FILE} in the bundle: its model id is undefined (build one with "
            "`python -m models manifest DIR`, then register the new id)")
    try:
        doc = json.loads(files.manifest)
        listed = dict(doc["files"])
        fmt, rules = doc["format"], doc["serving_rules"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleIntegrityError(f"{MANIFEST_FILE} is malformed: {exc}") from None
    if fmt != FORMAT:
        raise BundleIntegrityError(f"{MANIFEST_FILE}: format {fmt!r}, expected {FORMAT!r}")
    if rules != SERVING_RULES:
        raise BundleIntegrityError(f"{MANIFEST_FILE}: serving rules {rules!r}; this code "
                                   f"implements {SERVING_RULES!r}")
    actual = files.hashes()
    for name, sha in actual.items():
        if name not in listed:
            raise BundleIntegrityError(f"{MANIFEST_FILE} does not list {name}")
        if listed[name] != sha:
            raise BundleIntegrityError(
                f"{name} differs from the bundle manifest (sha256 {sha}, manifest "
                f"{listed[name]}): the file was edited after the bundle id was made")
    extra = sorted(set(listed) - set(actual))
    if extra:
        raise BundleIntegrityError(f"{MANIFEST_FILE} lists files the bundle does not use: "
                                   f"{', '.join(extra)}")
    return bundle_id(files.manifest)


def write(bundle_dir: str | Path) -> str:
    """(Re)write ``manifest.json`` for the bundle's current files; returns the new bundle id.

    Only for whoever builds a bundle (training, export, tests making variants): a rewritten
    manifest is a new model id that must be registered and approved before any node uses it.
    """
    bundle_dir = Path(bundle_dir)
    data = build(read_files(bundle_dir))
    (bundle_dir / MANIFEST_FILE).write_bytes(data)
    return bundle_id(data)
