"""The aggregator's statistics rounds (issue 15): before training it asks every connected lender
for one statistics message (models.federated.lender) over Flower and merges them. It keeps an
answer only if the lender is a member, answers once, and signed exactly what it sent for this
phase; anything else fails the run, since preprocessing built on a partial or forged census
would be wrong for everyone.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flwr.common import FitIns, Parameters

from .lender import decode, statistics_round
from .protocol import UpdateRecord, params_sha256, signer_of


class StatisticsRefused(RuntimeError):
    pass


def collect(client_manager, phase: str, request: dict, members: dict[str, str],
            federation: str, timeout: float) -> tuple[dict[str, dict], list[UpdateRecord],
                                                      dict[str, bytes]]:
    """Every member's answer to ``phase`` (lender name -> decoded payload), their records and
    the answers as sent, in lender order. ``request``: the config the lenders receive beside the
    phase."""
    proxies = list(client_manager.all().values())
    ins = FitIns(Parameters(tensor_type="", tensors=[]), {**request, "phase": phase})
    with ThreadPoolExecutor(max_workers=max(1, len(proxies))) as pool:
        replies = list(pool.map(lambda p: p.fit(ins, timeout=timeout, group_id=0), proxies))
    answers, records, raw = {}, {}, {}
    for res in replies:
        who = str(res.metrics.get("institution"))
        digest = params_sha256(res.parameters)
        if who not in members:
            raise StatisticsRefused(f"{phase}: an answer from {who!r}, not a member")
        if who in answers:
            raise StatisticsRefused(f"{phase}: {who} answered twice")
        if digest != res.metrics.get("update_sha256"):
            raise StatisticsRefused(f"{phase}: {who}'s answer does not match its signed hash")
        try:
            signer = signer_of(str(res.metrics.get("signature")), federation,
                               statistics_round(phase), who, digest)
        except Exception:  # malformed signature bytes
            signer = None
        if signer != members[who]:
            raise StatisticsRefused(f"{phase}: {who}'s answer is not signed by its key")
        raw[who] = res.parameters.tensors[0]
        answers[who] = decode(raw[who])
        records[who] = UpdateRecord(
            institution=who, address=signer, num_examples=int(res.num_examples), sha256=digest,
            signature=str(res.metrics["signature"]), tensor_type="",
            wire_bytes=sum(len(t) for t in res.parameters.tensors),
            metrics_sent=sorted(res.metrics))
    missing = set(members) - set(answers)
    if missing:
        raise StatisticsRefused(f"{phase}: no answer from {', '.join(sorted(missing))}")
    order = sorted(answers)
    return ({n: answers[n] for n in order}, [records[n] for n in order],
            {n: raw[n] for n in order})
