"""IPFS content ids (CIDv1) of public artefacts, identical to `ipfs add --cid-version 1 -r`.

A model bundle is published as a directory and an anchored batch's public document as a file;
their CIDs go into the on-chain URIs (``ipfs://<cid>``) beside the SHA-256 / Merkle root already
committed, so anyone holding the bytes can recompute the address without an IPFS node. The DAG is
the one kubo builds by default for CIDv1 (checked against the npm ``ipfs-unixfs-importer`` by
tests/oracle/unit/test_content_id.py):

* files are cut into fixed 256 KiB chunks; each chunk is a **raw** block (codec 0x55). A file of
  one chunk (including the empty file, one empty chunk) is that raw block itself;
* larger files: a balanced tree of dag-pb UnixFS ``File`` nodes, at most 174 links each, leaves
  grouped 174 at a time, level by level, until one root is left; a node's ``Data`` carries the
  file size and each child's content size (``blocksizes``), its links have empty names;
* directories: a dag-pb UnixFS ``Directory`` node, one named link per entry sorted by the name's
  UTF-8 bytes; every link's ``Tsize`` is the total size of the blocks below it. Hidden entries
  (name starting with ``.``) are skipped, as ``ipfs add -r`` does without ``--hidden``;
* every CID: version 1, sha2-256, multibase base32 lower case (``bafk…`` raw, ``bafy…`` dag-pb).

Symbolic links and special files are refused (``ipfs add`` would store a symlink as such, and
following one could read outside the given path). Only what is under the given path is read.
Directories big enough for kubo's HAMT sharding (links over 256 KiB) are refused too, not guessed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

CHUNK_SIZE = 256 * 1024
MAX_LINKS = 174
RAW, DAG_PB, SHA2_256 = 0x55, 0x70, 0x12
_FILE, _DIRECTORY = 2, 1  # UnixFS Data.DataType
# kubo switches a directory to a HAMT when its links' estimated size exceeds this (not built here)
_SHARD_THRESHOLD = 256 * 1024
URI_SCHEME = "ipfs://"


class ContentIdError(ValueError):
    """A path that cannot be content-addressed here, or a malformed CID / URI."""


@dataclass(frozen=True)
class Block:
    cid: bytes      # binary CID
    tsize: int      # bytes of this block and every block below it (dag-pb link Tsize)
    filesize: int   # bytes of file content below it (UnixFS blocksizes)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _cid(codec: int, block: bytes) -> bytes:
    return b"\x01" + _varint(codec) + bytes([SHA2_256, 32]) + hashlib.sha256(block).digest()


def to_text(cid: bytes) -> str:
    """Multibase base32 (RFC 4648, lower case, no padding), prefix ``b``."""
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


def from_text(text: str) -> bytes:
    """The binary CID of a base32 CIDv1 string (multibase ``b``, or ``B`` upper case) with a
    sha2-256 multihash (what this module writes); ContentIdError for anything else."""
    if not isinstance(text, str) or text[:1] not in ("b", "B") or len(text) < 2:
        raise ContentIdError(f"not a base32 CIDv1: {text!r}")
    body = text[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raise ContentIdError(f"not a base32 CIDv1: {text!r}") from None
    if len(raw) != 36 or raw[0] != 1 or raw[1] not in (RAW, DAG_PB) or raw[2:4] != b"\x12\x20":
        raise ContentIdError(f"{text!r} is not a CIDv1 (raw or dag-pb) with a sha2-256 digest")
    return raw


def _dag_pb(links: Iterable[tuple[bytes, bytes, int]], data: bytes) -> bytes:
    """A dag-pb PBNode: its links (Hash=1, Name=2, Tsize=3) first, then Data=1, as the canonical
    encoding orders them. Names are always written, empty ones too (kubo and js do)."""
    out = b"".join(_len_field(2, _len_field(1, cid) + _len_field(2, name) + _int_field(3, tsize))
                   for name, cid, tsize in links)
    return out + _len_field(1, data)


def _file_node(children: list[Block]) -> Block:
    filesize = sum(c.filesize for c in children)
    data = _int_field(1, _FILE) + _int_field(3, filesize) + b"".join(
        _int_field(4, c.filesize) for c in children)
    block = _dag_pb(((b"", c.cid, c.tsize) for c in children), data)
    return Block(_cid(DAG_PB, block), len(block) + sum(c.tsize for c in children), filesize)


def file_block(stream: BinaryIO) -> Block:
    """The root of the balanced DAG of a byte stream (read in 256 KiB chunks, not held whole)."""
    leaves: list[Block] = []
    while True:
        chunk = _read_chunk(stream)
        if chunk or not leaves:  # an empty file is one empty raw leaf
            leaves.append(Block(_cid(RAW, chunk), len(chunk), len(chunk)))
        if len(chunk) < CHUNK_SIZE:
            break
    if len(leaves) == 1:
        return leaves[0]
    level = leaves
    while len(level) > 1:
        level = [_file_node(level[i:i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
    return level[0]


def _read_chunk(stream: BinaryIO) -> bytes:
    parts, size = [], 0
    while size < CHUNK_SIZE:
        part = stream.read(CHUNK_SIZE - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def bytes_cid(data: bytes) -> str:
    """CID of a file with these bytes."""
    return to_text(file_block(io.BytesIO(data)).cid)


def _block(path: Path) -> Block:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        raise ContentIdError(f"{path} is a symbolic link: not content-addressed (it could point "
                             "outside the artefact)")
    if stat.S_ISREG(mode):
        with open(path, "rb") as f:
            return file_block(f)
    if not stat.S_ISDIR(mode):
        raise ContentIdError(f"{path} is neither a regular file nor a directory")
    names = sorted(os.fsencode(n) for n in os.listdir(path) if not n.startswith("."))
    links = [(name, _block(path / os.fsdecode(name))) for name in names]
    if sum(len(name) + len(b.cid) for name, b in links) > _SHARD_THRESHOLD:
        raise ContentIdError(f"{path}: too many entries (ipfs would shard this directory)")
    block = _dag_pb(((name, b.cid, b.tsize) for name, b in links), _int_field(1, _DIRECTORY))
    return Block(_cid(DAG_PB, block), len(block) + sum(b.tsize for _, b in links), 0)


def path_cid(path: str | Path) -> str:
    """CID of a file or directory tree, as `ipfs add --cid-version 1 -r PATH` prints for it.
    PATH itself may be a symbolic link (a model path often is); links below it are refused."""
    path = Path(path)
    try:
        return to_text(_block(path.resolve(strict=True)).cid)
    except FileNotFoundError:
        raise ContentIdError(f"{path} does not exist") from None
    except OSError as exc:  # unreadable file or directory: one line, not a traceback
        raise ContentIdError(f"cannot read {exc.filename or path}: {exc.strerror}") from None


def uri(cid: str) -> str:
    return URI_SCHEME + cid


def uri_cid(text: str) -> str | None:
    """The CID an ``ipfs://<cid>`` URI records; None for a URI of another scheme (recorded before
    content ids were). ContentIdError for an ``ipfs://`` URI whose CID is malformed."""
    if not isinstance(text, str) or not text.startswith(URI_SCHEME):
        return None
    cid = text[len(URI_SCHEME):]
    from_text(cid)
    return cid.lower()


NO_CID = "no CID recorded"


def compare_uri(recorded_uri: str, cid: str | None) -> tuple[str, str | None]:
    """An artefact's CID (None: not computed) against the URI recorded for it on chain:
    (what to report, the problem or None). A URI of another scheme was recorded before content
    ids were: reported as NO_CID, not a problem (the SHA-256 / root beside it still binds)."""
    try:
        recorded = uri_cid(recorded_uri)
    except ContentIdError as exc:
        return f"malformed URI {recorded_uri!r}", f"the recorded URI is malformed: {exc}"
    if recorded is None:
        return NO_CID, None
    if cid is None:
        return f"{recorded} (recorded; not checked: the artefact was not given)", None
    if cid != recorded:
        return cid, f"CID {cid} differs from the recorded {recorded_uri}"
    return cid, None
