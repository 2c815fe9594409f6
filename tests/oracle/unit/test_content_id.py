"""IPFS content ids (oracle.content_id) held to the npm ipfs-unixfs-importer with the options of
`ipfs add --cid-version 1 -r` (run offline from node_modules by scripts/toolchain/cid_vectors)."""

import os
import random
import shutil
from pathlib import Path

import pytest

from oracle import content_id
from oracle.content_id import CHUNK_SIZE, MAX_LINKS, ContentIdError, path_cid
from scripts.toolchain.cid_vectors import npm_cids

DEFAULT_BUNDLE = Path(__file__).resolve().parents[3] / "models" / "default"

# empty, one byte, one chunk exactly and either side, several chunks (one level), a full first
# level and one byte more (a second level: 175 leaves under two nodes under the root)
SIZES = [0, 1, 1000, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17,
         MAX_LINKS * CHUNK_SIZE, MAX_LINKS * CHUNK_SIZE + 1]


def write_random(path: Path, size: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def nested_directory(root: Path) -> Path:
    """Nested directories, an empty one, names whose byte order differs from case-folded order,
    a non-ASCII name, a multi-chunk file and a hidden file (which ipfs add skips)."""
    write_random(root / "b.txt", 10, 1)
    write_random(root / "B.txt", 11, 2)
    write_random(root / "a" / "inner.bin", CHUNK_SIZE + 5, 3)
    write_random(root / "a" / "deeper" / "x", 0, 4)
    write_random(root / "a" / "deeper" / "y", 1, 5)
    write_random(root / "é-ü.json", 300, 6)
    write_random(root / ".hidden", 50, 7)
    (root / "empty-dir").mkdir()
    return root


def test_files_of_every_size_and_a_nested_directory_match_the_npm_importer(tmp_path):
    files = [write_random(tmp_path / f"f{size}", size, seed=size) for size in SIZES]
    directory = nested_directory(tmp_path / "dir")
    paths = [*files, directory, DEFAULT_BUNDLE]
    expected = npm_cids(paths)
    assert [path_cid(p) for p in paths] == expected
    # the shapes the sizes are meant to reach: raw leaves up to one chunk, dag-pb above
    assert [c[:4] for c in expected[:len(SIZES)]] == ["bafk"] * 5 + ["bafy"] * 4
    assert expected[-1].startswith("bafy")  # the committed bundle, a directory


def test_known_cids_of_kubo_ipfs_add_cid_version_1(tmp_path):
    # `echo hello | ipfs add --cid-version 1` and the empty file, as kubo prints them
    assert content_id.bytes_cid(b"hello\n") == \
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
    assert path_cid(write_random(tmp_path / "empty", 0, 0)) == \
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_bytes_cid_equals_the_cid_of_a_file_with_those_bytes(tmp_path):
    data = random.Random(9).randbytes(2 * CHUNK_SIZE + 3)
    (tmp_path / "f").write_bytes(data)
    assert content_id.bytes_cid(data) == path_cid(tmp_path / "f")


def test_a_changed_byte_in_any_bundle_file_changes_the_bundle_cid(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    original = path_cid(bundle)
    assert original == path_cid(DEFAULT_BUNDLE)
    names = sorted(p.name for p in bundle.iterdir())
    assert "gmsc-v1.onnx" in names and "manifest.json" in names
    for name in names:
        path = bundle / name
        data = bytearray(path.read_bytes())
        at = len(data) - 1 if name.endswith(".onnx") else len(data) // 2  # the ONNX's last chunk
        data[at] ^= 0x01
        path.write_bytes(bytes(data))
        assert path_cid(bundle) != original, name
        data[at] ^= 0x01
        path.write_bytes(bytes(data))
    assert path_cid(bundle) == original


def test_hidden_entries_are_skipped_and_any_other_entry_counts(tmp_path):
    directory = nested_directory(tmp_path / "dir")
    before = path_cid(directory)
    (directory / ".hidden").write_bytes(b"edited")
    assert path_cid(directory) == before
    (directory / "new").write_bytes(b"")
    assert path_cid(directory) != before


def test_a_symbolic_link_inside_is_refused_but_the_path_itself_may_be_one(tmp_path):
    directory = nested_directory(tmp_path / "dir")
    link = tmp_path / "current"
    link.symlink_to(directory)
    assert path_cid(link) == path_cid(directory)
    os.symlink("/etc/hostname", directory / "escape")
    with pytest.raises(ContentIdError, match="symbolic link"):
        path_cid(directory)


def test_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ContentIdError, match="does not exist"):
        path_cid(tmp_path / "nope")


def test_ipfs_uris_name_their_cid_and_other_uris_none():
    cid = content_id.bytes_cid(b"x")
    assert content_id.uri_cid(content_id.uri(cid)) == cid
    assert content_id.uri_cid("ipfs://" + cid.upper()) == cid
    assert content_id.uri_cid("scorechain://models/gmsc/v1/manifest.json") is None
    assert content_id.uri_cid("file:///tmp/features.csv") is None
    for bad in ("ipfs://", "ipfs://QmNotBase32", "ipfs://" + cid[:-2], "ipfs://" + cid + "/x"):
        with pytest.raises(ContentIdError):
            content_id.uri_cid(bad)


def test_from_text_round_trips_and_rejects_other_cids():
    cid = content_id.bytes_cid(b"y" * (CHUNK_SIZE + 1))
    assert content_id.to_text(content_id.from_text(cid)) == cid
    with pytest.raises(ContentIdError):
        content_id.from_text("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA")  # base58btc
