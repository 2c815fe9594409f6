"""The principal reasons of a declined loan, as an adverse-action notice states them.

A decline has one rule reason (the `IComplianceRules.Reason` in `LoanRejected` and the loan's
`rejectReason`) and, when the rule is about the score, the score's own reason codes (packed in
the score record; texts from the model's schema, `models.reasons`). Regulation B wants specific
reasons, not "failed our rules" or "insufficient score": so a score-based decline lists the
model's reasons after the rule's, and every rule has an applicant-facing text.
"""
from __future__ import annotations

from typing import NamedTuple


class RuleReason(NamedTuple):
    name: str        # IComplianceRules.Reason member, in enum order
    text: str        # what the notice says
    score_based: bool  # the score decided it: the score's reason codes follow


#: IComplianceRules.Reason, in enum order (a test checks it against the interface).
RULE_REASONS: tuple[RuleReason, ...] = (
    RuleReason("None", "", False),
    RuleReason("RulesNotSet", "We could not complete the decision: no lending rules were in force",
               False),
    RuleReason("BorrowerIneligible", "Identity verification incomplete, expired or revoked", False),
    RuleReason("JurisdictionNotAllowed", "We do not lend in your jurisdiction", False),
    RuleReason("TermTooShort", "Loan term shorter than the shortest we offer", False),
    RuleReason("TermTooLong", "Loan term longer than the longest we offer", False),
    RuleReason("AprTooHigh", "Requested rate above the maximum rate allowed", False),
    RuleReason("TooManyActiveLoans", "Too many loans outstanding with us", False),
    RuleReason("CoolOffActive", "Too soon after your last loan ended (cool-off period)", False),
    RuleReason("NoScore", "Credit assessment incomplete: no credit score was available", False),
    RuleReason("ScoreExpired", "Credit assessment incomplete: the credit score had expired", False),
    RuleReason("ScoreStale", "Credit assessment incomplete: the credit score was too old", False),
    RuleReason("ModelNotApproved", "Credit assessment incomplete: the score came from a model "
               "no longer approved", False),
    RuleReason("PdTooHigh", "Estimated risk of default too high", True),
    RuleReason("ScoreBelowMinimum", "Credit score below our minimum", True),
    RuleReason("PrincipalTooHigh", "Amount requested too high for your credit score", True),
    RuleReason("ScoreBeforeRequest", "Credit assessment incomplete: the score predates the "
               "request", False),
    RuleReason("Delinquent", "Delinquent on a previous loan with us", False),
)


def rule_reason(code: int) -> RuleReason:
    if not 0 <= code < len(RULE_REASONS):
        raise ValueError(f"unknown IComplianceRules.Reason {code}")
    return RULE_REASONS[code]


def principal_reasons(reject_reason: int, reason_codes_packed: int | None,
                      schema_name: str = "gmsc") -> list[str]:
    """The notice's reasons, most important first: the rule's text, then for a score-based
    decline the score's reason texts (at most four)."""
    rule = rule_reason(reject_reason)
    if rule.name == "None":
        raise ValueError("the loan was not declined")
    out = [rule.text]
    if rule.score_based and reason_codes_packed:
        from models.serving import describe_reason_codes
        out += describe_reason_codes(reason_codes_packed, schema_name)
    return out
