"""Adverse-action reasons of a decline: one text per compliance rule, in the contract's enum
order, and a score-based decline names the score's own reasons."""
import re
from pathlib import Path

import pytest

from models.serving import pack_reason_codes
from oracle.adverse_action import RULE_REASONS, principal_reasons, rule_reason

ROOT = Path(__file__).resolve().parents[3]


def test_rule_reasons_follow_the_contract_enum_and_each_has_a_text():
    src = (ROOT / "interfaces" / "IComplianceRules.sol").read_text()
    body = re.search(r"enum Reason \{([^}]*)\}", src).group(1)
    names = [n.strip() for n in body.split(",") if n.strip()]
    assert [r.name for r in RULE_REASONS] == names
    assert all(r.text for r in RULE_REASONS[1:])


def test_a_score_based_decline_lists_the_scores_reasons_after_the_rule():
    pd_too_high = [r.name for r in RULE_REASONS].index("PdTooHigh")
    packed = pack_reason_codes((7, 55, 0, 0))  # GMSC: 90+ days late, income too low
    assert principal_reasons(pd_too_high, packed) == [
        "Estimated risk of default too high", "Too many payments 90 or more days late",
        "Income too low"]


def test_a_rule_decline_names_the_rule_only():
    delinquent = [r.name for r in RULE_REASONS].index("Delinquent")
    packed = pack_reason_codes((7, 0, 0, 0))
    assert principal_reasons(delinquent, packed) == ["Delinquent on a previous loan with us"]


def test_an_approval_or_an_unknown_code_is_not_a_notice():
    with pytest.raises(ValueError, match="not declined"):
        principal_reasons(0, None)
    with pytest.raises(ValueError, match="unknown"):
        rule_reason(len(RULE_REASONS))
