// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title LoanMath
/// @notice An independent twin of LoanManager's arithmetic for the ghost model (the same rules as
/// tests/contracts/scorechain_testkit.py: total_due, minimum_repaid, principal_share). The default
/// test walks every installment's due date instead of LoanManager's closed form.
library LoanMath {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant YEAR_SECONDS = 365 days;

    function totalDue(uint256 principal, uint256 aprBps, uint256 termSeconds) internal pure returns (uint256) {
        return principal + (principal * aprBps * termSeconds) / (BPS * YEAR_SECONDS);
    }

    /// @dev Installment i (1..n) falls due at fundedAt + term * i / n and is late once
    /// now > due + grace; the late installments call for totalDue * late / n.
    function minimumRepaid(
        uint256 nowSeconds,
        uint256 fundedAt,
        uint256 termSeconds,
        uint256 installments,
        uint256 graceSeconds,
        uint256 due
    ) internal pure returns (uint256) {
        uint256 late;
        for (uint256 i = 1; i <= installments; ++i) {
            if (nowSeconds > fundedAt + (termSeconds * i) / installments + graceSeconds) ++late;
        }
        return (due * late) / installments;
    }

    /// @dev What an impairment at `impairedAt` calls due (loop version): the installments whose due
    /// date is at or before it, plus the next one, capped at all of them.
    function impairmentCure(uint256 impairedAt, uint256 fundedAt, uint256 termSeconds, uint256 installments, uint256 due)
        internal
        pure
        returns (uint256)
    {
        uint256 k;
        for (uint256 i = 1; i <= installments; ++i) {
            if (fundedAt + (termSeconds * i) / installments <= impairedAt) ++k;
        }
        if (k < installments) ++k;
        return (due * k) / installments;
    }

    /// @dev The late fee over [fromSeconds, toSeconds] with `repaid` constant: each installment's
    /// unpaid part (its cumulative amount above max(repaid, the previous cumulative amount)) for the
    /// seconds it was past its due date, at rateBps on its principal share, rounded down once.
    function lateFee(
        uint256 fromSeconds,
        uint256 toSeconds,
        uint256 fundedAt,
        uint256 termSeconds,
        uint256 installments,
        uint256 due,
        uint256 principal,
        uint256 repaid,
        uint256 rateBps
    ) internal pure returns (uint256) {
        uint256 overdueSeconds;
        for (uint256 i = 1; i <= installments; ++i) {
            uint256 cum = (due * i) / installments;
            uint256 covered = repaid > (due * (i - 1)) / installments ? repaid : (due * (i - 1)) / installments;
            if (cum <= covered) continue;
            uint256 start = fundedAt + (termSeconds * i) / installments;
            if (start < fromSeconds) start = fromSeconds;
            if (start < toSeconds) overdueSeconds += (cum - covered) * (toSeconds - start);
        }
        return (overdueSeconds * principal * rateBps) / (due * BPS * YEAR_SECONDS);
    }

    function principalShare(uint256 paid, uint256 principal, uint256 due) internal pure returns (uint256) {
        return (paid * principal) / due;
    }
}
