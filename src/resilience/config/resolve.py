"""Resolve parsed flags, the environment and YAML into one frozen :class:`LaunchConfig`.

Precedence for fault-tolerance fields: CLI flag > ``PET_FT_*`` env var > YAML > model default.
torchrun's own flags already fold ``PET_*`` env vars in (torch's parser does it). Every error is
a :class:`ConfigError` whose message names the bad value, where it came from, and the fix.
"""

from __future__ import annotations

import argparse
import signal
import socket
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from resilience.config.models import FaultToleranceConfig, LaunchConfig, RdzvConfig
from resilience.config.parser import FT_ENV_PREFIX, ft_dest, ft_env, ft_flag, ft_leaves
from resilience.config.workers import worker_config
from resilience.config.yaml_source import load_ft_block
from resilience.errors import ConfigError

__all__ = ["resolve"]

RDZV_CONF_KEYS = {
    "join_timeout",
    "last_call_timeout",
    "close_timeout",
    "read_timeout",
    "keep_alive_interval",
    "keep_alive_max_attempt",
    "is_host",
}
SUPPORTED_BACKENDS = {"c10d", "static"}
DEFAULT_C10D_PORT = 29400
DEFAULT_STATIC_PORT = 29500


def resolve(args: argparse.Namespace, env: Mapping[str, str]) -> LaunchConfig:
    _reject_unsupported(args)
    ft = _resolve_ft(args, env)
    rdzv = _resolve_rdzv(args)
    if ft.attribution.decision_timeout > rdzv.join_timeout:
        raise ConfigError(
            f"--ft-attribution-decision-timeout {ft.attribution.decision_timeout:g} must be <= "
            f"the rendezvous join_timeout {rdzv.join_timeout:g}; lower it or raise "
            f"--rdzv-conf join_timeout"
        )
    stop_timeout = ft.workers_stop_timeout or _stop_timeout(args, env)
    return LaunchConfig(
        rdzv=rdzv,
        workers=worker_config(args, env),
        ft=ft,
        max_restarts=_non_negative_int("--max-restarts", args.max_restarts),
        monitor_interval=_positive_float("--monitor-interval", args.monitor_interval),
        stop_timeout=stop_timeout,
        signals_to_handle=_signals(args.signals_to_handle),
        log_dir=Path(args.log_dir) if args.log_dir else None,
    )


def _reject_unsupported(args: argparse.Namespace) -> None:
    """torchrun flags whose feature ftrun does not have: refuse them instead of ignoring them."""
    unsupported = {
        "--logs-specs": args.logs_specs is not None,
        "--numa-binding": getattr(args, "numa_binding", None) is not None,
        "--event-log-handler": args.event_log_handler != "null",
        "--duplicate-stdout-filters": bool(args.duplicate_stdout_filters),
        "--duplicate-stderr-filters": bool(args.duplicate_stderr_filters),
    }
    for flag, given in unsupported.items():
        if given:
            raise ConfigError(
                f"{flag} is a torchrun option ftrun does not support yet; remove it "
                f"(per-rank logs are always in <log-dir>/<run-id>/cycle_<c>/)"
            )
    if args.rdzv_backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"--rdzv-backend {args.rdzv_backend!r} is not supported; ftrun runs its own barrier "
            f"rendezvous on a TCPStore: use c10d (or static with --master-addr/--master-port)"
        )


def _ft_sources(
    args: argparse.Namespace, env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merged raw values by dotted name and, for each, where it came from (for errors)."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    cfg_path = args.ft_cfg_path or env.get(FT_ENV_PREFIX + "CFG_PATH")
    if cfg_path:
        block = load_ft_block(Path(cfg_path))
        nested = block.pop("attribution", None) or {}
        if not isinstance(nested, dict):
            raise ConfigError(
                f"{cfg_path}: fault_tolerance.attribution must be a mapping of settings"
            )
        items = [*block.items(), *((f"attribution.{k}", v) for k, v in nested.items())]
        for key, value in items:
            key = key.replace("-", "_")
            values[key], origin[key] = value, f"{cfg_path}: fault_tolerance.{key}"
    for dotted, _ in ft_leaves():
        if ft_env(dotted) in env:
            raw = env[ft_env(dotted)]
            values[dotted] = raw.split(",") if dotted == "attribution.http_url" else raw
            origin[dotted] = f"env {ft_env(dotted)}"
        cli_value = getattr(args, ft_dest(dotted), None)
        if cli_value is not None:
            values[dotted], origin[dotted] = cli_value, ft_flag(dotted)
    _deprecated(args, values, origin)
    return values, origin


def _deprecated(args: argparse.Namespace, values: dict[str, Any], origin: dict[str, str]) -> None:
    """The old attribution flags work for one release, with a warning naming the new one."""
    if args.ft_deprecated_endpoint:
        warnings.warn(
            "--ft-attribution-endpoint is deprecated; use --ft-attribution-http-url",
            DeprecationWarning,
            stacklevel=2,
        )
        urls = list(values.get("attribution.http_url") or [])
        values["attribution.http_url"] = [*urls, args.ft_deprecated_endpoint]
        origin["attribution.http_url"] = "--ft-attribution-endpoint"
    backend = args.ft_deprecated_backend
    if backend:
        warnings.warn(
            "--ft-attribution-backend is deprecated; use --ft-attribution-rules (embedded "
            "engine) or --ft-attribution-http-url (service)",
            DeprecationWarning,
            stacklevel=2,
        )
        if backend not in {"rules", "embedded", "http"}:
            raise ConfigError(
                f"--ft-attribution-backend {backend!r}: this release has the embedded rules "
                f"engine ('rules') and HTTP services ('http' with --ft-attribution-http-url)"
            )


def _resolve_ft(args: argparse.Namespace, env: Mapping[str, str]) -> FaultToleranceConfig:
    values, origin = _ft_sources(args, env)
    known = {dotted for dotted, _ in ft_leaves()}
    nested: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"unknown setting {key!r} ({origin[key]}); valid fault_tolerance keys: "
                f"{', '.join(sorted(known))}"
            )
        head, _, leaf = key.partition(".")
        if leaf:
            nested.setdefault(head, {})[leaf] = value
        else:
            nested[key] = value
    try:
        return FaultToleranceConfig.model_validate(nested)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        raise ConfigError(
            f"invalid {name}={values.get(name)!r} ({origin.get(name, 'default')}): "
            f"{err['msg']}; fix the value"
        ) from exc


def _parse_rdzv_conf(text: str) -> dict[str, str]:
    conf: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(
                f"--rdzv-conf item {item!r} is not KEY=VALUE; use e.g. "
                f"--rdzv-conf join_timeout=600,last_call_timeout=30"
            )
        if key.strip() not in RDZV_CONF_KEYS:
            raise ConfigError(
                f"--rdzv-conf key {key.strip()!r} is unknown; valid keys: "
                f"{', '.join(sorted(RDZV_CONF_KEYS))}"
            )
        conf[key.strip()] = value.strip()
    return conf


def _split_endpoint(endpoint: str, default_port: int) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep:
        return endpoint, default_port
    host = host.strip("[]")
    try:
        return host, int(port)
    except ValueError:
        raise ConfigError(
            f"--rdzv-endpoint {endpoint!r} has a bad port; use HOST:PORT, e.g. node001:29400"
        ) from None


def _nnodes(text: str) -> tuple[int, int]:
    parts = text.split(":")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (0, -1)
    except ValueError:
        lo, hi = 0, -1
    if not 0 < lo <= hi:
        raise ConfigError(f"--nnodes {text!r} must be N or MIN:MAX with 0 < MIN <= MAX")
    return lo, hi


def _is_local(host: str) -> bool:
    if host in {"localhost", "127.0.0.1", "::1", "0.0.0.0"}:
        return True
    names = {socket.gethostname(), socket.getfqdn()}
    if host in names or host.startswith("127."):
        return True
    try:
        return socket.gethostbyname(host) in {socket.gethostbyname(n) for n in names}
    except OSError:
        return False


def _resolve_rdzv(args: argparse.Namespace) -> RdzvConfig:
    conf = _parse_rdzv_conf(args.rdzv_conf)
    backend: str = args.rdzv_backend
    if args.standalone:
        backend, host, port, run_id, (lo, hi) = "c10d", "localhost", 0, str(uuid.uuid4()), (1, 1)
    else:
        lo, hi = _nnodes(args.nnodes)
        run_id = args.rdzv_id
        if backend == "static":
            endpoint = (
                args.rdzv_endpoint
                or f"{args.master_addr}:{args.master_port or DEFAULT_STATIC_PORT}"
            )
            host, port = _split_endpoint(endpoint, DEFAULT_STATIC_PORT)
        elif args.rdzv_endpoint:
            host, port = _split_endpoint(args.rdzv_endpoint, DEFAULT_C10D_PORT)
        else:
            raise ConfigError(
                "--rdzv-backend c10d needs --rdzv-endpoint HOST:PORT (the leader node); "
                "for a single node use --standalone"
            )
    is_host_text = conf.pop("is_host", None)
    is_host: bool | None
    if is_host_text is not None:
        is_host = is_host_text.lower() in {"1", "true", "yes"}
    elif args.standalone:
        is_host = True
    elif backend == "static":
        is_host = args.node_rank == 0
    else:
        is_host = None if _is_local(host) else False
    local_addr = args.local_addr or socket.getfqdn()
    try:
        fields: dict[str, object] = {
            "backend": backend,
            "endpoint_host": host,
            "endpoint_port": port,
            "run_id": run_id,
            "min_nodes": lo,
            "max_nodes": hi,
            "is_host": is_host,
            "node_rank": args.node_rank if backend == "static" else None,
            "local_addr": local_addr,
            "master_addr_for_workers": host,
            **conf,  # strings; pydantic converts and range-checks them
        }
        return RdzvConfig.model_validate(fields)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"invalid --rdzv-conf {args.rdzv_conf!r}: {_first_error(exc)}") from exc


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return str(exc)


def _non_negative_int(flag: str, value: int) -> int:
    if value < 0:
        raise ConfigError(f"{flag} {value} must be >= 0")
    return value


def _positive_float(flag: str, value: float) -> float:
    if value <= 0:
        raise ConfigError(f"{flag} {value} must be > 0")
    return value


def _stop_timeout(args: argparse.Namespace, env: Mapping[str, str]) -> float:
    if args.shutdown_timeout is not None:
        return _positive_float("--shutdown-timeout", float(args.shutdown_timeout))
    raw = env.get("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "30")
    try:
        return _positive_float("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", float(raw))
    except ValueError:
        raise ConfigError(
            f"TORCH_ELASTIC_SHUTDOWN_TIMEOUT={raw!r} must be a number of seconds"
        ) from None


def _signals(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    for name in names:
        if name not in signal.Signals.__members__ or name in {"SIGKILL", "SIGSTOP"}:
            raise ConfigError(
                f"--signals-to-handle: {name!r} is not a catchable signal name; use e.g. "
                f"SIGTERM,SIGINT,SIGUSR1"
            )
    return names
