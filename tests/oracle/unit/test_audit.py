"""oracle.audit on a locally built recorded score: every check passes on the real thing, and each
alteration fails exactly the check it touches (and only the checks that depend on it)."""

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from oracle import disclosure as disc
from oracle.audit import audit
from oracle.scoring import load_model
from scripts.scorechain_testkit import audit_case
from tests.oracle.unit.conftest import GOOD_ROW

BUNDLE = Path(__file__).resolve().parents[3] / "models" / "default"
RECOMPUTED = {"pd_bps", "score", "reason_codes"}


@pytest.fixture(scope="module")
def model():
    return load_model(BUNDLE)


@pytest.fixture
def case(model):
    return audit_case(model, GOOD_ROW)


def _failed(report):
    return {k for k, v in report["checks"].items() if v != "pass"}


def test_a_genuine_record_passes_every_check(model, case):
    d, ev, card = case
    r = audit(ev, d, model, card)
    assert r["ok"] and not _failed(r)
    assert {"tx_status", "on_chain_record", "features_commitment", "model_bundle", "pd_bps",
            "score", "reason_codes", "digest", "signer_config", "threshold", "signature_0",
            "signature_1", "model_registry", "anchored_batch"} == set(r["checks"])


def test_a_report_signed_score_passes_and_its_entries_are_bound_by_the_signatures(model):
    d, ev, card = audit_case(model, GOOD_ROW, report_with=3)
    assert ev.function == "submitReport" and audit(ev, d, model, card)["ok"]
    swapped = dataclasses.replace(ev, report_entries=ev.report_entries[:-1])  # one entry dropped
    r = audit(swapped, d, model, card)
    assert _failed(r) == {"digest", "signature_0", "signature_1"}


def _att(ev, **kw):
    return dataclasses.replace(ev, attestation=dataclasses.replace(ev.attestation, **kw))


@pytest.mark.parametrize("alter, failing", [
    (lambda ev: dataclasses.replace(ev, tx_status=0), {"tx_status"}),
    (lambda ev: dataclasses.replace(ev, tx_to="0x" + "99" * 20), {"tx_status"}),
    (lambda ev: dataclasses.replace(ev, recorded=None), {"on_chain_record"}),
    (lambda ev: dataclasses.replace(ev, recorded=SimpleNamespace(args=SimpleNamespace(
        **{**vars(ev.recorded.args), "score": ev.recorded.args.score + 1}))), {"on_chain_record"}),
    (lambda ev: dataclasses.replace(ev, contract_digest=b"\x01" * 32), {"digest"}),
    (lambda ev: dataclasses.replace(ev, config=None),
     {"signer_config", "signature_0", "signature_1"}),
    (lambda ev: dataclasses.replace(ev, config=(ev.config[0][1:], 2)), {"signature_0"}),
    (lambda ev: dataclasses.replace(ev, config=(ev.config[0], 3)), {"threshold"}),
    (lambda ev: dataclasses.replace(ev, signatures=[ev.signatures[0]] * 2), {"signature_1"}),
    (lambda ev: dataclasses.replace(ev, signatures=[b"\x00" * 65, ev.signatures[1]]),
     {"signature_0"}),
    (lambda ev: dataclasses.replace(ev, model_record=(*ev.model_record[:5], 0,
                                                      *ev.model_record[6:])), {"model_registry"}),
    (lambda ev: dataclasses.replace(ev, model_record=(b"\x05" * 32, *ev.model_record[1:])),
     {"model_registry"}),
    (lambda ev: dataclasses.replace(ev, model_record=(*ev.model_record[:9],
                                                      ev.block_timestamp + 1,
                                                      *ev.model_record[10:])), {"model_registry"}),
    (lambda ev: dataclasses.replace(ev, anchor_verified_on_chain=False), {"anchored_batch"}),
    (lambda ev: dataclasses.replace(ev, anchor_batch=(1, b"\x07" * 32, "0x" + "33" * 20)),
     {"anchored_batch"}),
    (lambda ev: _att(ev, modelId=b"\x08" * 32),
     {"model_bundle", "on_chain_record", "digest", "signature_0", "signature_1"} | RECOMPUTED),
    (lambda ev: _att(ev, pdBps=ev.attestation.pdBps + 1),
     {"pd_bps", "on_chain_record", "digest", "signature_0", "signature_1"}),
])
def test_each_alteration_fails_the_checks_it_touches(model, case, alter, failing):
    d, ev, card = case
    r = audit(alter(ev), d, model, card)
    assert not r["ok"] and _failed(r) == failing, r["checks"]


@pytest.mark.parametrize("alter, failing", [
    (lambda d: dataclasses.replace(d, salt=b"\x01" * 32), {"features_commitment"} | RECOMPUTED),
    (lambda d: dataclasses.replace(d, features={**d.features, "age": d.features["age"] + 1}),
     {"features_commitment"} | RECOMPUTED),
    (lambda d: dataclasses.replace(d, features={**d.features, "age": -5}),
     {"features_commitment"} | RECOMPUTED),
    (lambda d: dataclasses.replace(d, schema_hash=b"\x02" * 32),
     {"features_commitment"} | RECOMPUTED),
    (lambda d: dataclasses.replace(d, borrower="0x" + "12" * 20),
     {"features_commitment"} | RECOMPUTED),
    (lambda d: dataclasses.replace(d, anchor=None), {"anchored_batch"}),
    (lambda d: dataclasses.replace(d, anchor=dataclasses.replace(
        d.anchor, proof=d.anchor.proof[1:])), {"anchored_batch"}),
])
def test_each_disclosure_alteration_fails_the_checks_it_touches(model, case, alter, failing):
    d, ev, card = case
    r = audit(ev, alter(d), model, card)
    assert not r["ok"] and _failed(r) == failing, r["checks"]


def test_invalid_disclosed_features_name_the_feature(model, case):
    d, ev, card = case
    r = audit(ev, dataclasses.replace(d, features={**d.features, "age": -5}), model, card)
    assert "age" in r["checks"]["features_commitment"]


def test_a_disclosure_round_trips_and_is_written_for_its_owner_only(case, tmp_path):
    import stat

    d, _, _ = case
    path = tmp_path / "d.json"
    disc.write(d, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert disc.read(path) == d


@pytest.mark.parametrize("edit, message", [
    (lambda j: j.pop("format"), "format"),
    (lambda j: j.__setitem__("borrower", "0x12"), "borrower"),
    (lambda j: j.__setitem__("salt", "0x12"), "salt"),
    (lambda j: j.__setitem__("features", []), "features"),
    (lambda j: j["anchor"].__setitem__("batch_id", 0), "anchor.batch_id"),
    (lambda j: j["anchor"].__setitem__("proof", ["0xzz"]), "anchor.proof"),
    (lambda j: j.__setitem__("record", {"tx_hash": "0x1"}), "record.tx_hash"),
])
def test_a_malformed_disclosure_is_refused_naming_the_field(case, edit, message):
    d, _, _ = case
    doc = d.to_json()
    edit(doc)
    with pytest.raises(disc.DisclosureError, match=message):
        disc.Disclosure.from_json(doc)
