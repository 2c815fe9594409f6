"""Wiring: Settings -> signer, store, model, chain, node, daemon, HTTP server. And `serve`."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from oracle import attest, keys
from oracle.chain import Chain, ChainError, TxSender
from oracle.drift import DriftMonitor
from oracle.metrics import Metrics
from oracle.node import OracleNode
from oracle.scoring import Model, ModelGuard, ModelLoadError, ModelNotApproved, load_model
from oracle.settings import Settings, SettingsError
from oracle.store import Store

log = logging.getLogger("oracle")


def load_signer(s: Settings) -> keys.DigestSigner:
    """The attestation signing key: an encrypted keystore (password from env or file),
    ORACLE_PRIVATE_KEY, or a remote signer (ORACLE_REMOTE_SIGNER_URL + _ADDRESS [+ _TOKEN])."""
    sources = [n for n in ("keystore_path", "private_key", "remote_signer_url")
               if getattr(s, n) is not None]
    if len(sources) > 1:
        raise SettingsError("give one signing key source, not " + " and ".join(
            "ORACLE_" + n.upper() for n in sources))
    if s.remote_signer_url is not None:
        token = s.remote_signer_token.get_secret_value() if s.remote_signer_token else None
        return keys.RemoteSigner(s.remote_signer_url, s.remote_signer_address, token,
                                 timeout_s=s.peer_timeout_s)
    if s.keystore_path is not None:
        password = keys.read_password(
            s.keystore_password.get_secret_value() if s.keystore_password else None,
            s.keystore_password_file)
        return keys.load_keystore(s.keystore_path, password)
    if s.private_key is not None:
        return keys.signer_from_key_hex(s.private_key.get_secret_value())
    raise SettingsError("no key: set ORACLE_KEYSTORE_PATH (+ ORACLE_KEYSTORE_PASSWORD or "
                        "ORACLE_KEYSTORE_PASSWORD_FILE), ORACLE_PRIVATE_KEY or "
                        "ORACLE_REMOTE_SIGNER_URL")


def policy_of(s: Settings) -> attest.Policy:
    return attest.Policy(validity_s=s.validity_s, clock_tolerance_s=s.clock_tolerance_s)


@dataclass
class Context:
    settings: Settings
    signer: keys.DigestSigner
    store: Store
    model: Model
    chain: Chain
    node: OracleNode
    metrics: Metrics

    def close(self) -> None:
        self.node.close()
        self.store.close()


def build(s: Settings, *, signer: keys.DigestSigner | None = None) -> Context:
    signer = signer or load_signer(s)
    store = Store.open(s.store_path)
    model = load_model(s.model_path)
    chain = Chain(s)
    metrics = Metrics()
    guard = ModelGuard(chain.is_approved, ttl_s=s.model_check_ttl_s, circuit_of=chain.zk_scale)
    # Ring order, starting with the next node: each node asks a different peer first, so the
    # co-signing load spreads evenly (see OracleNode.gather).
    peers = s.nodes[s.node_index + 1:] + s.nodes[:s.node_index]
    node = OracleNode(signer=signer, store=store, model=model, guard=guard, chain=chain,
                      policy=policy_of(s), peers=peers, peer_timeout_s=s.peer_timeout_s,
                      metrics=metrics, drift=DriftMonitor(window=s.drift_window,
                                                          min_rows=s.drift_min_rows,
                                                          metrics=metrics))
    return Context(s, signer, store, model, chain, node, metrics)


def reload_model(ctx: Context) -> bool:
    """Roll the node over to the bundle now at ORACLE_MODEL_PATH (SIGHUP). The operator points the
    path (e.g. a symlink) at the new bundle first; an unloadable or unapproved model is refused and
    the node keeps serving the old one."""
    old = ctx.model.model_id_hex
    try:
        new = load_model(ctx.settings.model_path)
    except ModelLoadError as exc:
        log.error("model reload refused: cannot load", extra={"error": str(exc), "model_id": old})
        return False
    if new.model_id == ctx.model.model_id:
        log.info("model reload: unchanged", extra={"model_id": old})
        return True
    try:
        ctx.node.swap_model(new)
    except (ModelNotApproved, ChainError) as exc:
        log.error("model reload refused: not approved", extra={"error": str(exc), "model_id": old,
                                                               "refused": new.model_id_hex})
        return False
    if new.schema_hash != ctx.model.schema_hash:
        log.warning("new model has another feature schema; re-import features",
                    extra={"schema_hash": new.schema_hash})
    ctx.model = new
    log.info("model rolled over", extra={"from": old, "to": new.model_id_hex})
    return True


def serve(s: Settings) -> int:
    import uvicorn

    from oracle.instance_lock import InstanceLock

    from oracle.daemon import Daemon
    from oracle.http import create_admin_app, create_peer_app, create_public_app

    if s.nodes and not s.node_index < len(s.nodes):
        raise SettingsError(f"ORACLE_NODE_INDEX {s.node_index} is outside ORACLE_NODES")
    # Held until the process ends (the kernel drops it however the process ends).
    InstanceLock().acquire(s.store_path, s.keystore_path)
    ctx = build(s)
    stop = threading.Event()
    daemon = None
    if s.daemon:
        s.require("loan_manager_address")
        if isinstance(ctx.signer, keys.RemoteSigner):
            # the daemon pays gas with the node key today; a remote signer holds no key here
            ctx.close()
            raise SettingsError("the daemon sends transactions and a remote signer cannot: run "
                                "it with ORACLE_DAEMON=false (pull and peer signing only) "
                                "until a separate transmitter key is configured")
        sender = TxSender(ctx.chain, ctx.signer, ctx.store, s, ctx.metrics)
        daemon = Daemon(settings=s, node=ctx.node, chain=ctx.chain, sender=sender,
                        store=ctx.store, metrics=ctx.metrics, stop=stop)
    pull_pool = ThreadPoolExecutor(max_workers=s.pull_workers, thread_name_prefix="pull")
    listeners = {  # name: (app, host, port, extra uvicorn settings)
        "public": (create_public_app(ctx.node, s, metrics=ctx.metrics, pool=pull_pool),
                   s.http_host, s.http_port, {"limit_concurrency": s.public_max_concurrency}),
        "peer": (create_peer_app(ctx.node, s, metrics=ctx.metrics), s.peer_host, s.peer_port, {}),
        "admin": (create_admin_app(ctx.node, metrics=ctx.metrics, daemon=daemon,
                                   settings_public=s.public_dict()),
                  s.admin_host, s.admin_port, {}),
    }
    servers = {name: uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                                   access_log=False, lifespan="off", **extra))
               for name, (app, host, port, extra) in listeners.items()}

    def on_signal(signum, _frame) -> None:
        log.info("signal received, shutting down", extra={"signal": signal.Signals(signum).name})
        stop.set()
        for server in servers.values():
            server.should_exit = True

    reload_requested = threading.Event()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Not in the handler itself: loading a model and asking the chain do not belong in a signal handler.
    signal.signal(signal.SIGHUP, lambda _signum, _frame: reload_requested.set())
    http_threads = {name: threading.Thread(target=server.run, name=f"http-{name}", daemon=True)
                    for name, server in servers.items()}
    for thread in http_threads.values():
        thread.start()
    log.info("oracle node up", extra={"signer": ctx.signer.address, "model_id":
                                      ctx.model.model_id_hex, "port": s.http_port,
                                      "peer_port": s.peer_port, "admin_port": s.admin_port,
                                      "node_index": s.node_index, "nodes": len(s.nodes)})
    failed = False
    daemon_thread = None
    if daemon is not None:
        daemon_thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
        daemon_thread.start()
    while not stop.is_set():
        stop.wait(0.5)
        if reload_requested.is_set():
            reload_requested.clear()
            reload_model(ctx)
        dead = [name for name, thread in http_threads.items() if not thread.is_alive()]
        if dead:
            log.error("http server exited", extra={"listeners": dead})
            failed = True
            stop.set()
    for server in servers.values():
        server.should_exit = True
    if daemon_thread is not None:
        daemon_thread.join(timeout=30)
    for thread in http_threads.values():
        thread.join(timeout=10)
    pull_pool.shutdown(wait=False, cancel_futures=True)
    ctx.close()
    log.info("oracle node stopped")
    return 1 if failed else 0
