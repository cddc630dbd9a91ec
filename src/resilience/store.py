"""The rendezvous store: one small protocol, the real TCPStore behind it, and an in-memory fake.

Every torch store error is translated into :mod:`resilience.errors` here, so nothing above this
module sees ``DistStoreError`` / ``DistNetworkError``. The fake shares a contract test with the
real store (tests/unit/test_store_contract.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

from resilience.errors import StoreError, StoreUnreachableError

__all__ = ["MemoryStore", "Store", "TorchStore", "connect_store", "host_store", "try_get"]


class Store(Protocol):
    """The subset of c10d Store semantics the rendezvous needs."""

    def set(self, key: str, value: str) -> None: ...
    def get(self, key: str) -> bytes:
        """Value of an existing key (callers ``check`` or ``wait`` first)."""
        ...

    def add(self, key: str, amount: int) -> int: ...
    def append(self, key: str, value: str) -> None:
        """Append ``value`` to the key's value atomically (creates the key)."""
        ...

    def check(self, keys: Sequence[str]) -> bool: ...
    def wait(self, keys: Sequence[str], timeout: float) -> bool:
        """Block until every key exists; False on timeout."""
        ...

    def compare_set(self, key: str, expected: str, desired: str) -> bytes: ...
    def multi_set(self, keys: Sequence[str], values: Sequence[str]) -> None: ...
    def multi_get(self, keys: Sequence[str]) -> list[bytes]: ...


_ABSENT = "\x00resilience-absent\x00"


def try_get(store: Store, key: str) -> bytes | None:
    """The value of ``key`` or None, in ONE round trip (torch's ``get`` is a wait plus a get).

    ``compare_set(key, S, S)`` with a sentinel S never written as a value returns the current
    value when the key exists and S, without creating the key, when it does not.
    """
    value = store.compare_set(key, _ABSENT, _ABSENT)
    return None if value == _ABSENT.encode() else value


class TorchStore:
    """Adapter over ``torch.distributed.TCPStore`` that speaks :class:`Store`."""

    def __init__(self, raw: Any, host: str, port: int) -> None:
        self.raw = raw
        self.host = host
        self.port = port

    def _call(self, op: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except RuntimeError as exc:  # DistStoreError / DistNetworkError subclass RuntimeError
            raise StoreError(f"store {op} on {self.host}:{self.port} failed: {exc}") from exc

    def set(self, key: str, value: str) -> None:
        self._call("set", self.raw.set, key, value)

    def get(self, key: str) -> bytes:
        value: bytes = self._call("get", self.raw.get, key)
        return value

    def add(self, key: str, amount: int) -> int:
        value: int = self._call("add", self.raw.add, key, amount)
        return value

    def append(self, key: str, value: str) -> None:
        self._call("append", self.raw.append, key, value)

    def check(self, keys: Sequence[str]) -> bool:
        value: bool = self._call("check", self.raw.check, list(keys))
        return value

    def wait(self, keys: Sequence[str], timeout: float) -> bool:
        try:
            self.raw.wait(list(keys), timedelta(seconds=max(timeout, 0.001)))
        except RuntimeError as exc:
            if "timeout" in str(exc).lower():
                return False
            raise StoreError(f"store wait on {self.host}:{self.port} failed: {exc}") from exc
        return True

    def compare_set(self, key: str, expected: str, desired: str) -> bytes:
        value: bytes = self._call("compare_set", self.raw.compare_set, key, expected, desired)
        return value

    def multi_set(self, keys: Sequence[str], values: Sequence[str]) -> None:
        self._call("multi_set", self.raw.multi_set, list(keys), list(values))

    def multi_get(self, keys: Sequence[str]) -> list[bytes]:
        value: list[bytes] = self._call("multi_get", self.raw.multi_get, list(keys))
        return value


def host_store(host: str, port: int, timeout: float) -> TorchStore:
    """Start a TCPStore server in this process (port 0 picks a free port)."""
    from torch.distributed import TCPStore

    try:
        raw = TCPStore(
            host, port, None, True, timeout=timedelta(seconds=timeout), wait_for_workers=False
        )
    except RuntimeError as exc:
        raise StoreError(f"cannot host the rendezvous store on {host}:{port}: {exc}") from exc
    return TorchStore(raw, host, int(raw.port))


def connect_store(host: str, port: int, timeout: float) -> TorchStore:
    """Connect to a TCPStore server, retrying until ``timeout`` seconds have passed."""
    from torch.distributed import TCPStore

    try:
        raw = TCPStore(host, port, None, False, timeout=timedelta(seconds=timeout))
    except RuntimeError as exc:
        raise StoreUnreachableError(
            f"cannot reach the rendezvous store at {host}:{port} within {timeout:g}s "
            f"(check --rdzv-endpoint, that the leader node is up, or raise "
            f"--rdzv-conf read_timeout=SECONDS)"
        ) from exc
    return TorchStore(raw, host, port)


class MemoryStore:
    """In-process fake with TCPStore semantics, for unit tests of the protocol shells."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._cond = threading.Condition()

    def set(self, key: str, value: str) -> None:
        with self._cond:
            self._data[key] = value.encode()
            self._cond.notify_all()

    def get(self, key: str) -> bytes:
        with self._cond:
            if key not in self._data:
                raise StoreError(f"store get: key {key!r} does not exist")
            return self._data[key]

    def add(self, key: str, amount: int) -> int:
        with self._cond:
            value = int(self._data.get(key, b"0")) + amount
            self._data[key] = str(value).encode()
            self._cond.notify_all()
            return value

    def append(self, key: str, value: str) -> None:
        with self._cond:
            self._data[key] = self._data.get(key, b"") + value.encode()
            self._cond.notify_all()

    def check(self, keys: Sequence[str]) -> bool:
        with self._cond:
            return all(k in self._data for k in keys)

    def wait(self, keys: Sequence[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(k in self._data for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def compare_set(self, key: str, expected: str, desired: str) -> bytes:
        with self._cond:
            current = self._data.get(key)
            if (current is None and expected == "") or current == expected.encode():
                self._data[key] = desired.encode()
                self._cond.notify_all()
                return desired.encode()
            return current if current is not None else expected.encode()

    def multi_set(self, keys: Sequence[str], values: Sequence[str]) -> None:
        with self._cond:
            for k, v in zip(keys, values, strict=True):
                self._data[k] = v.encode()
            self._cond.notify_all()

    def multi_get(self, keys: Sequence[str]) -> list[bytes]:
        with self._cond:
            return [self._data[k] for k in keys]
