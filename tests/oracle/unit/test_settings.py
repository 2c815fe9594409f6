import json
import logging

import pytest

from oracle.settings import SettingsError, load_settings

ADDR = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def test_env_overrides_file_and_types_are_parsed(tmp_path):
    cfg = tmp_path / "o.toml"
    cfg.write_text(f'[oracle]\nrpc_url = "http://file:1"\nconfirmations = 3\n'
                   f'registry_address = "{ADDR}"\n')
    s = load_settings(cfg, env={"ORACLE_CONFIRMATIONS": "5",
                                "ORACLE_NODES": "http://a:1, http://b:2"})
    assert s.rpc_url == "http://file:1"
    assert s.confirmations == 5
    assert s.nodes == ["http://a:1", "http://b:2"]
    assert s.registry_address == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "confirmations: 4\n"), (".json", json.dumps({"confirmations": 4})),
    (".toml", "confirmations = 4\n")])
def test_all_file_formats(tmp_path, suffix, text):
    cfg = tmp_path / ("o" + suffix)
    cfg.write_text(text)
    assert load_settings(cfg, env={}).confirmations == 4


def test_secret_in_config_file_is_rejected(tmp_path):
    cfg = tmp_path / "o.json"
    cfg.write_text(json.dumps({"keystore_password": "hunter2"}))
    with pytest.raises(SettingsError, match="environment"):
        load_settings(cfg, env={})


def test_secrets_are_never_shown(caplog):
    s = load_settings(env={"ORACLE_KEYSTORE_PASSWORD": "hunter2", "ORACLE_PRIVATE_KEY": "ab" * 32})
    assert s.keystore_password.get_secret_value() == "hunter2"
    for text in (repr(s), str(s), json.dumps(s.public_dict())):
        assert "hunter2" not in text and "ab" * 32 not in text
    assert s.public_dict()["keystore_password"] == "set"
    logging.getLogger("t").warning("settings", extra={"settings": s.public_dict()})
    assert "hunter2" not in caplog.text


@pytest.mark.parametrize("url,shown", [
    ("https://mainnet.infura.io/v3/0123456789abcdef", "https://mainnet.infura.io"),
    ("https://user:hunter2@rpc.example.org:8443/key?apikey=s3cret#x", "https://rpc.example.org:8443"),
    ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
])
def test_the_rpc_url_is_shown_without_path_query_or_credentials(url, shown):
    public = load_settings(env={"ORACLE_RPC_URL": url}).public_dict()
    assert public["rpc_url"] == shown
    for secret in ("0123456789abcdef", "hunter2", "s3cret", "/key"):
        assert secret not in json.dumps(public)


def test_secrets_have_no_default():
    s = load_settings(env={})
    assert s.keystore_password is None and s.private_key is None


@pytest.mark.parametrize("env", [
    {"ORACLE_CONFIRMATIONS": "-1"}, {"ORACLE_HTTP_PORT": "70000"},
    {"ORACLE_REGISTRY_ADDRESS": "0x1234"}, {"ORACLE_BATCH_SIZE": "many"},
    {"ORACLE_GAS_BUMP_PERCENT": "5"}, {"ORACLE_LOG_LEVEL": "LOUD"}])
def test_invalid_values_name_the_variable(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        load_settings(env=env)


def test_unknown_file_keys_and_formats_are_errors(tmp_path):
    cfg = tmp_path / "o.json"
    cfg.write_text(json.dumps({"confirmatoins": 1}))
    with pytest.raises(SettingsError):
        load_settings(cfg, env={})
    ini = tmp_path / "o.ini"
    ini.write_text("x=1")
    with pytest.raises(SettingsError, match="must be"):
        load_settings(ini, env={})


def test_a_batch_that_cannot_fit_in_a_block_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("ORACLE_BATCH_SIZE", "200")  # 80,000 + 200 x 150,000 > 30,000,000
    with pytest.raises(SettingsError, match="block_gas_limit") as exc:
        load_settings(None)
    # a check across settings: its message names them, with no empty ORACLE_ location
    assert str(exc.value).startswith("invalid settings: batch_size 200 x ")
    monkeypatch.setenv("ORACLE_BLOCK_GAS_LIMIT", "36000000")
    assert load_settings(None).batch_size == 200


@pytest.mark.parametrize("given, level", [("debug", "DEBUG"), (" Warning ", "WARNING"),
                                          ("ERROR", "ERROR")])
def test_log_level_is_one_of_the_logging_levels_in_any_case(given, level):
    assert load_settings(env={"ORACLE_LOG_LEVEL": given}).log_level == level


def test_nodes_that_are_not_a_json_list_name_the_variable():
    with pytest.raises(SettingsError, match="ORACLE_NODES: not a JSON list"):
        load_settings(env={"ORACLE_NODES": "[http://a"})
