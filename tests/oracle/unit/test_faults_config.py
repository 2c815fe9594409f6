"""Fault injection is off by default, names only known points, and is refused off development
chains; an armed point kills the process with SIGKILL (checked in a child process)."""

import subprocess
import sys

import pytest

from oracle import faults
from oracle.settings import SettingsError, load_settings


def test_points_parse_with_probabilities_and_unknown_ones_are_refused():
    assert faults.parse("after_sign:0.3, after_broadcast") == {"after_sign": 0.3,
                                                               "after_broadcast": 1.0}
    assert faults.parse(None) == {} and faults.parse("") == {}
    with pytest.raises(SettingsError, match="unknown point"):
        faults.parse("after_lunch")
    with pytest.raises(SettingsError, match=r"\[0, 1\]"):
        faults.parse("after_sign:2")


def test_faults_need_a_development_chain_id_in_the_settings():
    with pytest.raises(SettingsError, match="development chain"):
        load_settings(None, env={"ORACLE_FAULTS": "after_sign"})  # no chain id
    with pytest.raises(SettingsError, match="development chain"):
        load_settings(None, env={"ORACLE_FAULTS": "after_sign", "ORACLE_CHAIN_ID": "1"})
    assert load_settings(None, env={"ORACLE_FAULTS": "after_sign",
                                    "ORACLE_CHAIN_ID": "31337"}).faults == "after_sign"


def test_arming_is_refused_on_a_production_chain_id():
    with pytest.raises(SettingsError, match="refused on chain 1"):
        faults.arm("after_sign", chain_id=1)
    faults.arm("", chain_id=1)  # nothing named: nothing armed, nothing refused


def test_an_unarmed_point_does_nothing_and_an_armed_one_kills_the_process():
    faults.disarm()
    faults.hit("after_sign")  # still here
    code = ("from oracle import faults; faults.arm('after_broadcast:1', 31337); "
            "faults.hit('after_sign'); print('alive'); faults.hit('after_broadcast'); "
            "print('survived')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -9 and "alive" in done.stdout and "survived" not in done.stdout
