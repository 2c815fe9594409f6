"""03 — onboard borrowers: KYC by commitment, their features for the oracle, a Merkle anchor.

    brownie run scripts/03_onboard_borrowers.py --network development

Three roles act here, each off chain first and then on chain:
* the KYC provider checks an identity off chain and registers only a salted hash of it
  (`identity_commitment`) with a jurisdiction and a KYC expiry — no PII on chain. The salt is the
  provider's one secret (SCORECHAIN_KYC_SALT, 32 bytes hex; a fresh one per run on local chains),
  not one per person: the same person always gets the same commitment from this provider, which
  is what lets BorrowerRegistry refuse to register them twice;
* each borrower consents to enrolment with their own transaction (`BorrowerRegistry.consent` with
  the hash of interfaces/borrower-consent.md); until then the address is pending and cannot borrow.
  Where this process holds the borrower's key (local chains) it sends that transaction for them;
  on live networks the borrowers send it from their own wallets;
* the data provider writes the borrowers' features, each with a per-borrower salt, to a CSV that
  every oracle node imports into its own feature store (`oracle features import`);
* the data provider anchors the Merkle root of the batch's feature commitments in DataAnchor, so
  the `featuresHash` of any later score can be proven to come from an anchored batch. The batch's
  URI is `ipfs://<cid>` of its public document (`batch-public.json` beside the CSV: the leaf
  hashes and root only, oracle/batch_doc.py), which may be published; the CSV holds personal data
  (features, salts) and is never content-addressed for publication.

On local chains the borrowers are fresh accounts whose features are rows of the real Give Me Some
Credit holdout (models' frozen split). On live networks pass SCORECHAIN_BORROWERS_CSV: a CSV with
`borrower`, `jurisdiction`, `identity` (the KYC provider's own reference, hashed here) and the
schema's feature columns.
"""

from __future__ import annotations

import csv
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from brownie import chain
from eth_hash.auto import keccak

from oracle import batch_doc, content_id
from oracle.commitment import features_hash
from oracle.merkle import MerkleTree, leaf

from .network_context import (
    is_local,
    new_local_account,
    require_success,
    role_account,
    tx_params,
)
from .scorechain_deploy import jurisdiction_bytes

YEAR = 365 * 24 * 3600
DEFAULT_WORKDIR = Path(".scorechain/demo")
BATCH_DOCUMENT = "batch-public.json"  # the anchored batch's public part (ipfs:// in its URI)


@dataclass
class BorrowerRecord:
    address: str
    identity: str  # the KYC provider's reference; stays off chain
    jurisdiction: str
    features: dict
    salt: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    account: object = None  # a brownie account where this process holds the key (local chains)
    holdout_label: int | None = None  # the real outcome, for the demo's report only
    features_hash: bytes = b""


def identity_commitment(identity: str, kyc_salt: bytes) -> bytes:
    """keccak256(kycSalt || utf8(identity)): what BorrowerRegistry stores instead of PII.

    `kyc_salt` is the provider's secret, the same for every person it enrols, and `identity` its
    canonical reference for the person (one per person), so a person has one commitment per
    provider."""
    if len(kyc_salt) != 32:
        raise ValueError("kyc salt must be 32 bytes")
    return keccak(kyc_salt + identity.encode())


_RUN_KYC_SALT = secrets.token_bytes(32)


def provider_kyc_salt() -> bytes:
    """The KYC provider's secret salt: SCORECHAIN_KYC_SALT (required on live networks, so a
    person's commitment stays the same across runs), else one fresh secret for this run."""
    raw = os.environ.get("SCORECHAIN_KYC_SALT")
    if raw:
        salt = bytes.fromhex(raw.removeprefix("0x"))
        if len(salt) != 32:
            raise ValueError("SCORECHAIN_KYC_SALT must be 32 bytes of hex")
        return salt
    if not is_local():
        raise SystemExit("set SCORECHAIN_KYC_SALT (the KYC provider's 32-byte secret) on a live network")
    return _RUN_KYC_SALT


def holdout_borrowers(n: int, *, seed: int = 7, default_share: float = 0.35) -> list[dict]:
    """`n` rows of the GMSC holdout, over-sampling real defaulters so the demo sees rejections."""
    from models.data import load_dataset, make_splits
    from models.schema import decode_row

    data = load_dataset("gmsc")
    holdout = make_splits(data.y, data.X).holdout_idx
    rng = np.random.default_rng(seed)
    bad = holdout[data.y[holdout] == 1]
    good = holdout[data.y[holdout] == 0]
    n_bad = int(round(n * default_share))
    picked = np.concatenate([rng.choice(bad, n_bad, replace=False),
                             rng.choice(good, n - n_bad, replace=False)])
    rng.shuffle(picked)
    return [{"features": decode_row(data.schema, data.X[i]), "label": int(data.y[i]),
             "row": int(i)} for i in picked]


def demo_records(n: int, jurisdictions: list[str], *, seed: int = 7) -> list[BorrowerRecord]:
    """Fresh local accounts with holdout features, funded with gas money by the deployer."""
    deployer = role_account("deployer")
    records = []
    for i, row in enumerate(holdout_borrowers(n, seed=seed)):
        account = new_local_account()
        deployer.transfer(account, "1 ether", silent=True)
        records.append(BorrowerRecord(
            address=account.address,
            identity=f"demo-person-{account.address.lower()}",  # one simulated person per account
            jurisdiction=jurisdictions[i % len(jurisdictions)],
            features=row["features"],
            account=account,
            holdout_label=row["label"],
        ))
    return records


def csv_records(path: str, schema: dict) -> list[BorrowerRecord]:
    from oracle.store import _parse_cell  # the oracle's own CSV cell rules, so both agree

    by_name = {f["name"]: f for f in schema["features"]}
    records = []
    with open(path, newline="") as fh:
        for rec in csv.DictReader(fh):
            features = {k: _parse_cell(by_name[k], v) for k, v in rec.items() if k in by_name}
            records.append(BorrowerRecord(rec["borrower"], rec["identity"], rec["jurisdiction"],
                                          features))
    return records


def write_features_csv(path: Path, records: list[BorrowerRecord], schema: dict) -> Path:
    """The file every oracle node imports: borrower, salt, then the schema's features."""
    names = [f["name"] for f in schema["features"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["borrower", "salt", *names])
        for r in records:
            writer.writerow([r.address, "0x" + r.salt.hex(),
                             *["" if r.features.get(n) is None else r.features[n] for n in names]])
    return path


def register_borrowers(system, records: list[BorrowerRecord], *, kyc_valid_seconds: int = YEAR):
    """The KYC provider registers each record's identity with its address (pending); each
    borrower whose key this process holds then consents from its own address. Returns the
    addresses still waiting for their own consent transaction."""
    registry = system.borrower_registry
    expiry = chain.time() + kyc_valid_seconds
    params = tx_params("kyc_provider")
    kyc_salt = provider_kyc_salt()
    for r in records:
        require_success(registry.register(
            r.address, identity_commitment(r.identity, kyc_salt),
            jurisdiction_bytes(r.jurisdiction), expiry, params))
    terms = registry.consentTerms()
    waiting = []
    for r in records:
        if r.account is None:
            waiting.append(r.address)
            continue
        require_success(registry.consent(terms, {"from": r.account}))
    return waiting


def anchor_features(system, records: list[BorrowerRecord], schema: dict, document: Path):
    """Commit every record's features (as the oracle will), write the batch's public document to
    `document` and anchor the batch's Merkle root under the document's ipfs:// URI."""
    from models.schema import schema_hash, validate_row

    shash = schema_hash(schema)
    for r in records:
        r.features_hash = features_hash(shash, r.salt, validate_row(schema, r.features))
    tree = MerkleTree.build([leaf(r.address, r.features_hash) for r in records])
    data = batch_doc.build(tree)
    document.parent.mkdir(parents=True, exist_ok=True)
    document.write_bytes(data)
    uri = content_id.uri(content_id.bytes_cid(data))
    tx = require_success(system.data_anchor.anchor(tree.root, uri, len(records),
                                                   tx_params("data_provider")))
    return tx.events["BatchAnchored"]["batchId"], tree


def onboard(system, records: list[BorrowerRecord], schema: dict, workdir: Path = DEFAULT_WORKDIR):
    """Register, write the oracle's features CSV and anchor it; returns (csv path, batch id, tree).
    The batch's public document is written to `workdir`/batch-public.json."""
    register_borrowers(system, records)
    features_csv = write_features_csv(workdir / "features.csv", records, schema)
    batch_id, tree = anchor_features(system, records, schema, workdir / BATCH_DOCUMENT)
    return features_csv, batch_id, tree


def main():
    from models.schema import load_schema

    from .network_context import deployed

    system = deployed()
    schema = load_schema(os.environ.get("SCORECHAIN_MODEL_DIR", "models/default") + "/feature_schema.json")
    if os.environ.get("SCORECHAIN_BORROWERS_CSV"):
        records = csv_records(os.environ["SCORECHAIN_BORROWERS_CSV"], schema)
    elif is_local():
        records = demo_records(12, ["GB", "DE", "FR"])
    else:
        raise SystemExit("set SCORECHAIN_BORROWERS_CSV to onboard borrowers on a live network")
    features_csv, batch_id, tree = onboard(system, records, schema)
    print(f"{len(records)} borrowers registered; features in {features_csv} (personal data); "
          f"batch {batch_id} anchored with root 0x{tree.root.hex()}, public document "
          f"{features_csv.parent / BATCH_DOCUMENT}")
    waiting = [r.address for r in records if r.account is None]
    if waiting:
        print(f"{len(waiting)} borrowers must now consent from their own wallets: "
              f"BorrowerRegistry.consent({system.borrower_registry.consentTerms()}) "
              "(the keccak256 of interfaces/borrower-consent.md)")
    return records
