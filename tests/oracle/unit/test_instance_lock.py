"""One node per store and key: a second `oracle serve` on the same files is refused."""

import os
import subprocess
import sys

import pytest

from oracle.instance_lock import AlreadyRunning, InstanceLock


def test_a_second_holder_is_refused_and_the_lock_frees_on_release(tmp_path):
    store, key = tmp_path / "oracle.db", tmp_path / "key.json"
    first = InstanceLock().acquire(store, key)
    with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}.*{store.name}"):
        InstanceLock().acquire(store)
    with pytest.raises(AlreadyRunning):
        InstanceLock().acquire(tmp_path / "other.db", key)  # a free store does not help
    assert (os.stat(str(store) + ".lock").st_mode & 0o777) == 0o600
    first.release()
    InstanceLock().acquire(store, key).release()


def test_a_lock_held_by_another_process_refuses_and_dies_with_it(tmp_path):
    store = tmp_path / "oracle.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from oracle.instance_lock import InstanceLock; "
         f"InstanceLock().acquire({str(store)!r}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid}"):
            InstanceLock().acquire(store)
    finally:
        holder.kill()
        holder.wait()
    InstanceLock().acquire(store).release()  # killed: the kernel dropped its lock


def test_memory_and_unset_paths_take_no_lock(tmp_path):
    InstanceLock().acquire(":memory:", None).release()


def test_a_new_store_is_readable_by_its_owner_only(tmp_path):
    from oracle.store import Store

    path = tmp_path / "oracle.db"
    path.write_text("")
    path.chmod(0o644)  # a store made before this rule is tightened too
    Store.open(path).close()
    assert (path.stat().st_mode & 0o777) == 0o600
