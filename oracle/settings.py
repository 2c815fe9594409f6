"""One typed settings object per oracle process.

Sources, lowest to highest precedence: field defaults, a config file (TOML, YAML or JSON, chosen by
extension; path from ``--config`` or ``ORACLE_CONFIG``), then environment variables named
``ORACLE_<FIELD>`` (upper case; lists as JSON or comma-separated).

Secrets (``keystore_password``, ``private_key``, ``remote_signer_token``) come only from the
environment (or, for the password, a file named by ``keystore_password_file``); a config file that
contains them is rejected. They are `SecretStr`, never defaulted, and never appear in `repr`, logs or
`public_dict()`. (`pydantic-settings` cannot be installed under brownie's python-dotenv pin, so
the loader is hand-rolled here.)
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

import models

ENV_PREFIX = "ORACLE_"
#: Gas of a submit/submitBatch transaction before its per-attestation part.
TX_BASE_GAS = 80_000
SECRET_FIELDS = ("keystore_password", "private_key", "remote_signer_token", "transmitter_keystore_password",
                 "transmitter_private_key")
#: settings that are URLs which may carry credentials: shown as scheme://host[:port] only
URL_FIELDS = ("rpc_url", "remote_signer_url")


def redact_url(url: str) -> str:
    """scheme://host[:port] of `url`, without user info, path, query or fragment."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "(not a URL)"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


DEFAULT_MODEL_PATH = Path(models.__file__).resolve().parent / "default"

class SettingsError(ValueError):
    pass


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # chain
    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int | None = Field(None, description="checked against the node's eth_chainId")
    registry_address: str | None = Field(None, description="CreditScoreRegistry")
    model_registry_address: str | None = None
    loan_manager_address: str | None = None
    abi_dir: Path | None = Field(None, description="directory of <Name>.json ABIs; default bundled")
    rpc_timeout_s: float = 10.0

    # keys: keystore (+ password from env or file) or a raw key in the environment
    keystore_path: Path | None = None
    keystore_password: SecretStr | None = None
    keystore_password_file: Path | None = None
    private_key: SecretStr | None = None
    # or a remote signer (oracle.keys.RemoteSigner) for the attestation key
    remote_signer_url: str | None = None
    remote_signer_address: str | None = None
    remote_signer_token: SecretStr | None = None
    # the transmitter: the key that sends (and pays gas for) transactions; never the signing key
    transmitter_keystore_path: Path | None = None
    transmitter_keystore_password: SecretStr | None = None
    transmitter_keystore_password_file: Path | None = None
    transmitter_private_key: SecretStr | None = None

    # data and model
    store_path: Path = Path(".scorechain/oracle.db")
    # the default bundle shipped inside the `models` package: the same directory in a checkout,
    # and present in an installed `oracle` too (a cwd-relative "models/default" would not be)
    model_path: Path = Field(DEFAULT_MODEL_PATH, description="model bundle directory")
    model_check_ttl_s: float = Field(30.0, description="how long an isApproved answer is trusted")
    zk_circuit_dir: Path | None = Field(None, description="the zk-scored model's circuit directory "
                                        "(python -m models zk setup): pulls may ask for a proof")

    # attestation policy
    validity_s: int = Field(86_400, gt=0, description="validUntil - issuedAt")
    clock_tolerance_s: int = Field(120, ge=0, description="peer accepts issuedAt within this")

    # k-of-n
    node_index: int = Field(0, ge=0)
    nodes: list[str] = Field(default_factory=list, description="base URLs of all nodes, by index")
    peer_timeout_s: float = 5.0
    failover_blocks: int = Field(6, ge=1)

    # daemon
    daemon: bool = True
    start_block: int | None = None
    confirmations: int = Field(1, ge=0)
    finality: Literal["auto", "finalized", "safe", "depth"] = Field(
        "auto", description="how a block is final: the chain's tag, or finality_depth blocks "
        "behind the head (auto: depth on anvil/Ganache/Hardhat, the finalized tag elsewhere)")
    finality_depth: int = Field(12, ge=1, description="blocks behind the head that are final "
                                "(finality=depth); a reorg deeper than this is not undone")
    poll_interval_s: float = Field(1.0, gt=0)
    max_block_range: int = Field(2_000, ge=1)
    batch_size: int = Field(50, ge=1, le=500)

    # transactions
    gas_limit_per_attestation: int = 150_000
    block_gas_limit: int = Field(30_000_000, gt=0, description="a batch's gas must fit in a block")
    max_fee_gwei: float = Field(200.0, gt=0, description="cap for maxFeePerGas")
    priority_fee_gwei: float = Field(1.0, ge=0)
    gas_bump_percent: int = Field(15, ge=10)
    gas_margin_percent: int = Field(25, ge=0, le=200, description="added to eth_estimateGas")
    stuck_after_blocks: int = Field(3, ge=1)
    receipt_timeout_s: float = 120.0
    retry_backoff_s: float = Field(30.0, gt=0, description="first pause after a request fails "
                                   "(no features, schema mismatch, revert); doubles each time")
    dead_letter_after: int = Field(5, ge=1, description="failures before a request is dead")
    drift_window: int = Field(5000, ge=100, description="scores in the drift monitor's sliding "
                              "window (oracle.drift)")
    drift_min_rows: int = Field(500, ge=50, description="scores in the window before PSI is "
                                "judged")
    low_balance_eth: float = Field(0.1, ge=0, description="warn when the transmitter holds less")
    breaker_failures: int = Field(5, ge=1)
    breaker_cooldown_s: float = Field(30.0, ge=0)

    # fault injection (oracle.faults): development chains only
    faults: str | None = Field(None, description="point[:probability],... (tests only)")

    # http: three listeners. public = borrowers' pulls; peer = /v1/sign for the other nodes
    # (ORACLE_NODES lists the nodes' peer URLs); admin = /healthz and /metrics
    http_host: str = "127.0.0.1"
    http_port: int = Field(9100, ge=0, le=65535)
    peer_host: str = "127.0.0.1"
    peer_port: int = Field(9101, ge=0, le=65535)
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(9102, ge=0, le=65535)
    pull_request_max_ttl_s: int = Field(300, gt=0, description="longest-lived pull request")
    pull_cache_ttl_s: int = Field(300, ge=0, description="a signed pull result is reused this "
                                  "long for the same borrower nonce")
    pull_workers: int = Field(4, ge=1, description="threads gathering for pulls (the daemon has "
                              "its own)")
    public_max_concurrency: int = Field(32, ge=1, description="connections+tasks on the public "
                                        "listener before it answers 503")
    public_rate_limit: str = Field("5/second;60/minute", description="per client IP, `limits` "
                                   "notation")
    public_max_body_bytes: int = Field(16_384, gt=0)
    peer_max_body_bytes: int = Field(1_048_576, gt=0)
    peer_auth_window_s: int = Field(30, gt=0, description="a peer request's timestamp within "
                                    "this of our clock")
    replay_cache_size: int = Field(100_000, ge=1)

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _batch_fits_in_a_block(self) -> "Settings":
        # A transaction over the block gas limit is refused by every node: the daemon would
        # re-broadcast it forever and its requests would never be recorded.
        gas = TX_BASE_GAS + self.batch_size * self.gas_limit_per_attestation
        if gas > self.block_gas_limit:
            raise ValueError(
                f"batch_size {self.batch_size} x gas_limit_per_attestation "
                f"{self.gas_limit_per_attestation} + {TX_BASE_GAS} = {gas} gas exceeds "
                f"block_gas_limit {self.block_gas_limit}; lower ORACLE_BATCH_SIZE")
        return self

    @model_validator(mode="after")
    def _listeners_apart(self) -> "Settings":
        ports = [(n, p) for n, p in (("HTTP_PORT", self.http_port), ("PEER_PORT", self.peer_port),
                                     ("ADMIN_PORT", self.admin_port)) if p != 0]
        if len({p for _, p in ports}) != len(ports):
            raise ValueError("ORACLE_HTTP_PORT, ORACLE_PEER_PORT and ORACLE_ADMIN_PORT must "
                             "differ: the public, peer and admin listeners are separate")
        if (self.remote_signer_url is None) != (self.remote_signer_address is None):
            raise ValueError("ORACLE_REMOTE_SIGNER_URL and ORACLE_REMOTE_SIGNER_ADDRESS go "
                             "together")
        return self

    @field_validator("public_rate_limit")
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        from limits import parse_many

        try:
            parse_many(v)
        except ValueError:
            raise ValueError(f"not a rate limit: {v!r}; e.g. 5/second;60/minute") from None
        return v

    @model_validator(mode="after")
    def _faults_only_on_development_chains(self) -> "Settings":
        from oracle import faults

        # ORACLE_CHAIN_ID is required with it and checked against eth_chainId: a production
        # node cannot be configured to kill itself
        points = faults.parse(self.faults)
        if points and self.chain_id not in faults.DEV_CHAIN_IDS:
            raise ValueError(f"ORACLE_FAULTS needs ORACLE_CHAIN_ID of a development chain "
                             f"({sorted(faults.DEV_CHAIN_IDS)}), not {self.chain_id}")
        return self

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        # The standard library's own level names (and any registered with addLevelName): a name
        # it does not know would only fail later, in logging.setLevel, as a traceback.
        name = v.strip().upper()
        if name not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {v!r}; use DEBUG, INFO, WARNING, ERROR or "
                             "CRITICAL")
        return name

    @field_validator("nodes", mode="before")
    @classmethod
    def _split_nodes(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                try:
                    return json.loads(v)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a JSON list of URLs ({exc})") from None
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("registry_address", "model_registry_address", "loan_manager_address",
                     "remote_signer_address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from eth_utils import is_hex_address, to_checksum_address

        if not is_hex_address(v):
            raise ValueError(f"not an address: {v!r}")
        return to_checksum_address(v)

    def public_dict(self) -> dict[str, Any]:
        """Settings for logs and /healthz: secrets reduced to whether they are set, and the RPC URL
        to its scheme, host and port (providers put API keys in the path, query or user info)."""
        out = self.model_dump(mode="json", exclude=set(SECRET_FIELDS))
        for name in SECRET_FIELDS:
            out[name] = "set" if getattr(self, name) is not None else None
        for name in URL_FIELDS:
            if getattr(self, name) is not None:
                out[name] = redact_url(getattr(self, name))
        return out

    def secret_strings(self) -> list[str]:
        """Every string a log line or an error shown over HTTP must not contain: the secrets, and
        the parts of the URLs that `public_dict` leaves out (user info, path, query)."""
        from urllib.parse import urlsplit

        out = [getattr(self, n).get_secret_value() for n in SECRET_FIELDS
               if getattr(self, n) is not None]
        for name in URL_FIELDS:
            url = getattr(self, name)
            if url is None:
                continue
            parts = urlsplit(url)
            out += [url, parts.netloc if "@" in parts.netloc else "",
                    parts.path.rstrip("/") if parts.path not in ("", "/") else "",
                    parts.query, parts.fragment]
        return [v for v in out if v]

    def require(self, *names: str) -> None:
        missing = [n for n in names if getattr(self, n) in (None, "", [])]
        if missing:
            env = ", ".join(ENV_PREFIX + n.upper() for n in missing)
            raise SettingsError(f"missing settings: {env}")


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise SettingsError(f"config file must be .toml, .yaml, .yml or .json: {path}")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SettingsError(f"cannot parse {path}: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: top level must be a table/mapping")
    data = data.get("oracle", data)  # allow an [oracle] table
    secrets_in_file = [k for k in SECRET_FIELDS if k in data]
    if secrets_in_file:
        raise SettingsError(
            f"{path}: secrets {secrets_in_file} must come from the environment, not a config file"
        )
    return data


def load_settings(config: str | Path | None = None, env: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    config = config or env.get(ENV_PREFIX + "CONFIG")
    if config:
        data.update(_read_file(Path(config)))
    fields = Settings.model_fields
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in fields:
            continue  # e.g. ORACLE_HOME of Oracle Database clients: not ours
        data[name] = value
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError("invalid settings: " + "; ".join(map(_problem, exc.errors()))) from None


def _problem(error: Mapping[str, Any]) -> str:
    """One pydantic error as one line naming the variable; a check across several settings has
    no location and its message names them itself."""
    msg = " ".join(error["msg"].removeprefix("Value error, ").split())
    if not error["loc"]:
        return msg
    return f"{ENV_PREFIX}{'.'.join(map(str, error['loc'])).upper()}: {msg}"
