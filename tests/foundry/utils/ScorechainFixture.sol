// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {InvariantBase} from "./InvariantBase.sol";
import {Scorechain, Actors} from "../handlers/LifecycleGhost.sol";
import {LifecycleHandler} from "../handlers/LifecycleHandler.sol";
import {IComplianceRules} from "../../../interfaces/IComplianceRules.sol";
import {TestStablecoin} from "../../../contracts/test/TestStablecoin.sol";
import {BorrowerRegistry} from "../../../contracts/BorrowerRegistry.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {CreditScoreRegistry} from "../../../contracts/CreditScoreRegistry.sol";
import {ComplianceRules} from "../../../contracts/ComplianceRules.sol";
import {LoanManager} from "../../../contracts/LoanManager.sol";

/// @title ScorechainFixture
/// @notice Deploys the real contracts as scripts/scorechain_deploy.py wires them (a 2-of-3
/// oracle, distinct role holders, a model registered by one account and approved by another,
/// the default rules of tests/contracts/scorechain_testkit.py, three GB borrower addresses of
/// two people (borrowers[1] and borrowers[2] are one identity) and two funded lenders) and the lifecycle handler over them.
abstract contract ScorechainFixture is InvariantBase {
    uint256 internal constant START = 1_700_000_000;
    uint64 internal constant GRACE_SECONDS = 3 days;
    uint256 internal constant FUNDS = 10_000_000e6;
    bytes32 internal constant MODEL_ID = keccak256("scorechain-model-v1.onnx");
    /// @notice Stands in for keccak256 of interfaces/borrower-consent.md.
    bytes32 internal constant CONSENT_TERMS = keccak256("scorechain-borrower-consent-v1");

    Scorechain internal sys;
    Actors internal who;
    LifecycleHandler internal handler;

    function _deployScorechain() internal {
        vm.warp(START);
        for (uint256 i = 0; i < 3; ++i) {
            who.borrowers[i] = _actor("borrower", i);
        }
        for (uint256 i = 0; i < 2; ++i) {
            who.lenders[i] = _actor("lender", i);
        }
        who.relayer = _actor("relayer", 0);
        who.servicer = _actor("servicer", 0);
        who.kyc = _actor("kyc", 0);
        who.regulator = _actor("regulator", 0);
        who.registrar = _actor("registrar", 0);
        who.approver = _actor("approver", 0);
        address[] memory signers = new address[](3);
        for (uint256 i = 0; i < 3; ++i) {
            who.oracleKeys[i] = uint256(keccak256(abi.encode("scorechain-oracle", i)));
            signers[i] = vm.addr(who.oracleKeys[i]);
        }

        sys.token = new TestStablecoin();
        sys.borrowers = new BorrowerRegistry(address(this), CONSENT_TERMS);
        sys.models = new ModelRegistry(address(this));
        sys.scores = new CreditScoreRegistry(address(this), sys.models, signers, 2);
        sys.compliance = new ComplianceRules(address(this), sys.borrowers, sys.scores, sys.models);
        sys.loans = new LoanManager(address(this), sys.token, sys.borrowers, sys.compliance, sys.scores, GRACE_SECONDS);
        sys.scores.grantRole(sys.scores.SCORE_REQUESTER_ROLE(), address(sys.loans));
        sys.borrowers.grantRole(sys.borrowers.KYC_PROVIDER_ROLE(), who.kyc);
        sys.borrowers.grantRole(sys.borrowers.REGULATOR_ROLE(), who.regulator);
        sys.models.grantRole(sys.models.MODEL_REGISTRAR_ROLE(), who.registrar);
        sys.models.grantRole(sys.models.MODEL_APPROVER_ROLE(), who.approver);
        sys.compliance.grantRole(sys.compliance.REGULATOR_ROLE(), who.regulator);
        sys.loans.grantRole(sys.loans.REGULATOR_ROLE(), who.regulator);
        sys.loans.grantRole(sys.loans.SERVICER_ROLE(), who.servicer);

        vm.prank(who.registrar);
        sys.models.register(MODEL_ID, keccak256("metrics"), keccak256("data"), keccak256("schema"), "ipfs://v1", 1);
        vm.prank(who.approver);
        sys.models.approve(MODEL_ID);

        IComplianceRules.RuleSet memory rules = defaultRules();
        vm.startPrank(who.regulator);
        sys.compliance.setRuleSet(rules);
        sys.compliance.setJurisdictionAllowed("GB", true);
        vm.stopPrank();

        // Two people: borrowers[0] alone, borrowers[1] and borrowers[2] one person with two
        // addresses (linked by the KYC provider), so the book is exercised per identity.
        for (uint256 i = 0; i < 3; ++i) {
            address b = who.borrowers[i];
            vm.prank(who.kyc);
            if (i == 2) sys.borrowers.linkAddress(commitmentOf(who.borrowers[1]), b);
            else sys.borrowers.register(b, commitmentOf(b), "GB", uint64(START + 2 * 365 days));
            vm.prank(b);
            sys.borrowers.consent(CONSENT_TERMS);
            _fund(b);
        }
        for (uint256 i = 0; i < 2; ++i) {
            _fund(who.lenders[i]);
        }

        handler = new LifecycleHandler(sys, who, rules, MODEL_ID);
        vm.label(address(handler), "LifecycleHandler");
        vm.label(address(sys.loans), "LoanManager");
        vm.label(address(sys.scores), "CreditScoreRegistry");
        vm.label(address(sys.compliance), "ComplianceRules");
        vm.label(address(sys.token), "TestStablecoin");
    }

    /// @notice DEFAULT_RULES of tests/contracts/scorechain_testkit.py, but with a late-interest
    /// premium (10 %) so the campaign charges late fees from the start.
    function defaultRules() internal pure returns (IComplianceRules.RuleSet memory r) {
        r.maxPdBps = 2_000;
        r.maxAprBps = 3_600;
        r.maxActiveLoans = 2;
        r.minTermSeconds = 7 days;
        r.maxTermSeconds = 2 * 365 days;
        r.maxScoreAgeSeconds = 7 days;
        r.coolOffSeconds = 90 days;
        r.requestTtlSeconds = 7 days;
        r.fundingWindowSeconds = 14 days;
        r.lateInterestPremiumBps = 1_000;
        r.publicDefaultDelaySeconds = 7 days;
        r.bandMinScores = new uint16[](3);
        r.bandMinScores[0] = 300;
        r.bandMinScores[1] = 600;
        r.bandMinScores[2] = 750;
        r.bandMaxPrincipal = new uint256[](3);
        r.bandMaxPrincipal[0] = 1_000e6;
        r.bandMaxPrincipal[1] = 10_000e6;
        r.bandMaxPrincipal[2] = 50_000e6;
    }

    /// @notice The KYC provider's commitment of the person who first registered at `b`
    /// (LifecycleGhost.ghostIdentity gives every borrower address its person's).
    function commitmentOf(address b) internal pure returns (bytes32) {
        return keccak256(abi.encode("identity", b));
    }

    function _fund(address account) private {
        sys.token.mint(account, FUNDS);
        vm.prank(account);
        sys.token.approve(address(sys.loans), type(uint256).max);
    }

    function _actor(string memory role, uint256 i) private returns (address account) {
        account = address(uint160(uint256(keccak256(abi.encode("scorechain-actor", role, i)))));
        vm.label(account, string.concat(role, "-", _digit(i)));
    }

    function _digit(uint256 i) private pure returns (string memory) {
        return string(abi.encodePacked(bytes1(uint8(48 + i))));
    }
}
