from __future__ import annotations

from pathlib import Path

import pytest

from resilience.errors import ConfigError
from resilience.service.settings import load_settings


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESILIENCE_ATTRSVC_ALLOWED_ROOT", str(tmp_path))
    monkeypatch.setenv("RESILIENCE_ATTRSVC_PORT", "9000")
    monkeypatch.setenv("RESILIENCE_ATTRSVC_LOG_LEVEL", "DEBUG")
    s = load_settings({"port": "0", "host": None})
    assert (s.port, s.host, s.log_level) == (0, "127.0.0.1", "debug")
    assert s.allowed_root == tmp_path.resolve()


def test_missing_root_names_env_var_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESILIENCE_ATTRSVC_ALLOWED_ROOT", raising=False)
    with pytest.raises(ConfigError) as err:
        load_settings({})
    msg = str(err.value)
    assert "\n" not in msg
    assert "RESILIENCE_ATTRSVC_ALLOWED_ROOT" in msg and "--allowed-root" in msg


@pytest.mark.parametrize(
    ("field", "value", "fix"),
    [
        ("port", "70000", "0..65535"),
        ("port", "http", "0..65535"),
        ("log_level", "loud", "one of critical"),
        ("compute_timeout", "0", "> 0"),
        ("analyze_rate", "-1", "--analyze-rate"),
    ],
)
def test_bad_value_is_one_line_with_field_and_fix(tmp_path: Path, field: str, value: str,
                                                  fix: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"allowed_root": str(tmp_path), field: value})
    msg = str(err.value)
    assert "\n" not in msg
    assert field in msg and fix in msg


def test_root_must_be_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an existing directory"):
        load_settings({"allowed_root": str(tmp_path / "nope")})


def test_cache_file_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cache_file"):
        load_settings({"allowed_root": str(tmp_path), "cache_file": str(tmp_path / "a" / "b")})
