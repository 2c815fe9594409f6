from oracle.attest import Policy, build_attestation, disagreements

POLICY = Policy(validity_s=3600, clock_tolerance_s=60)


def att(**kw):
    base = dict(borrower="0x" + "ab" * 20, model_id=b"\x01" * 32, features_hash=b"\x02" * 32,
                pd_bps=500, score=700, reason_codes=0x0102, nonce=0, now=1000, policy=POLICY,
                config_digest=b"\x00\x03" + b"\x0c" * 30)
    base.update(kw)
    return build_attestation(**base)


def test_validity_window_comes_from_policy():
    a = att()
    assert (a.issuedAt, a.validUntil) == (1000, 4600)


def test_identical_recomputation_agrees_within_clock_tolerance():
    assert disagreements(att(now=1000), att(now=1059), POLICY) == []


def test_each_exact_field_must_match():
    own = att()
    for kw, field in ((dict(pd_bps=501), "pdBps"), (dict(score=701), "score"),
                      (dict(reason_codes=0x0103), "reasonCodes"), (dict(nonce=1), "nonce"),
                      (dict(features_hash=b"\x03" * 32), "featuresHash"),
                      (dict(model_id=b"\x09" * 32), "modelId"),
                      (dict(borrower="0x" + "cd" * 20), "borrower"),
                      (dict(config_digest=b"\x00\x02" + b"\x0c" * 30), "configDigest"),
                      (dict(extension_hash=b"\x0e" * 32), "extensionHash")):
        problems = disagreements(att(**kw), own, POLICY)
        assert len(problems) == 1 and problems[0].startswith(field), (field, problems)


def test_clock_skew_and_lifetime_are_policed():
    own = att(now=1000)
    assert disagreements(att(now=1061), own, POLICY)[0].startswith("issuedAt")
    longer = att(now=1000).with_(validUntil=1000 + 7200)
    assert disagreements(longer, own, POLICY)[0].startswith("validUntil")


def test_a_refusal_never_shows_this_nodes_score_or_features_commitment():
    own = att()
    for kw in (dict(pd_bps=501), dict(score=701), dict(reason_codes=0x0103),
               dict(features_hash=b"\x03" * 32)):
        (problem,) = disagreements(att(**kw), own, POLICY)
        assert problem.endswith("differs from this node's recomputation"), problem
        for value in ("500", "700", "0x102", "258", "02" * 32):  # own pd, score, codes, hash
            assert value not in problem, problem
