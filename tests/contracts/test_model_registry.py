"""ModelRegistry: registration, four-eyes approval, revocation."""

import brownie

from scripts.scorechain_testkit import MODEL_ID, err, role_err

H1, H2, H3 = "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32
REGISTERED, APPROVED, REVOKED = 1, 2, 3


def _register(models, who, model_id=MODEL_ID):
    return models.register(model_id, H1, H2, H3, "ipfs://model", 3, {"from": who})


def test_register_stores_and_emits(models, registrar):
    tx = _register(models, registrar)
    ev = tx.events["ModelRegistered"]
    assert (ev["registrar"], ev["uri"], ev["version"]) == (registrar, "ipfs://model", 3)
    assert str(ev["modelId"]) == MODEL_ID and str(ev["datasetRoot"]) == H2
    m = models.getModel(MODEL_ID)
    assert (m["status"], m["registrar"], m["version"], m["uri"]) == (REGISTERED, registrar, 3, "ipfs://model")
    assert not models.isApproved(MODEL_ID)


def test_register_twice_zero_id_or_without_role_reverts(models, registrar, approver):
    _register(models, registrar)
    with brownie.reverts(err("ModelAlreadyRegistered", MODEL_ID)):
        _register(models, registrar)
    with brownie.reverts(err("ModelZeroId")):
        _register(models, registrar, "0x" + "00" * 32)
    with brownie.reverts(role_err(approver, models.MODEL_REGISTRAR_ROLE())):
        _register(models, approver, "0x" + "44" * 32)


def test_approve_by_other_account_emits_and_approves(models, registrar, approver):
    _register(models, registrar)
    tx = models.approve(MODEL_ID, {"from": approver})
    assert tx.events["ModelApproved"]["approver"] == approver
    assert models.isApproved(MODEL_ID)
    assert models.getModel(MODEL_ID)["approver"] == approver


def test_registrar_holding_both_roles_cannot_approve_own_model(models, registrar, admin):
    models.grantRole(models.MODEL_APPROVER_ROLE(), registrar, {"from": admin})
    _register(models, registrar)
    with brownie.reverts(err("ModelFourEyesViolation", MODEL_ID, registrar)):
        models.approve(MODEL_ID, {"from": registrar})


def test_approve_unknown_twice_or_without_role_reverts(models, registrar, approver):
    with brownie.reverts(err("ModelNotRegistered", MODEL_ID)):
        models.approve(MODEL_ID, {"from": approver})
    _register(models, registrar)
    with brownie.reverts(role_err(registrar, models.MODEL_APPROVER_ROLE())):
        models.approve(MODEL_ID, {"from": registrar})
    models.approve(MODEL_ID, {"from": approver})
    with brownie.reverts(err("ModelInvalidStatus", MODEL_ID, APPROVED)):
        models.approve(MODEL_ID, {"from": approver})


def test_revoke_is_final_and_emits(models, registrar, approver):
    _register(models, registrar)
    models.approve(MODEL_ID, {"from": approver})
    tx = models.revoke(MODEL_ID, 12, {"from": approver})
    assert tx.events["ModelRevoked"]["reasonCode"] == 12
    assert tx.events["ModelRevoked"]["revoker"] == approver
    assert not models.isApproved(MODEL_ID)
    assert models.getModel(MODEL_ID)["revokeReason"] == 12
    with brownie.reverts(err("ModelInvalidStatus", MODEL_ID, REVOKED)):
        models.revoke(MODEL_ID, 1, {"from": approver})
    with brownie.reverts(err("ModelInvalidStatus", MODEL_ID, REVOKED)):
        models.approve(MODEL_ID, {"from": approver})


def test_revoke_unknown_reverts(models, approver):
    with brownie.reverts(err("ModelNotRegistered", MODEL_ID)):
        models.revoke(MODEL_ID, 1, {"from": approver})
