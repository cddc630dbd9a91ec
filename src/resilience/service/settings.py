"""Settings of `resilience serve`: CLI flags > ``RESILIENCE_ATTRSVC_*`` env vars > defaults.

Resolved once, at the composition root (``cli.run``), into a frozen model that the app gets
injected (``Depends(get_settings)``). Validation errors become one-line ``ConfigError``s that
name the field, the env var, the flag and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from resilience.errors import ConfigError

__all__ = ["ENV_PREFIX", "ServiceSettings", "load_settings"]

ENV_PREFIX = "RESILIENCE_ATTRSVC_"

LogLevel = Literal["critical", "error", "warning", "info", "debug"]

# field -> what to do about a bad value (the "fix" half of the error line).
_FIXES: dict[str, str] = {
    "allowed_root": "pass an existing directory: the root under which log files may be read",
    "port": "use an integer 0..65535 (0 picks a free port)",
    "log_level": "use one of critical, error, warning, info, debug",
    "compute_timeout": "use a number of seconds > 0",
    "max_wait": "use a number of seconds >= 0",
    "workers": "use an integer >= 1",
    "cache_max_entries": "use an integer >= 1",
    "cache_max_age": "use a number of seconds > 0",
    "cache_grace": "use a number of seconds >= 0",
    "max_jobs": "use an integer >= 1",
}


class ServiceSettings(BaseSettings):
    """Everything `resilience serve` can be told. Rates are requests/second per client (0 = off)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    allowed_root: Path
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    log_level: LogLevel = "info"
    submit_rate: float = Field(default=10.0, ge=0)
    submit_burst: int = Field(default=60, ge=1)
    analyze_rate: float = Field(default=10.0, ge=0)
    analyze_burst: int = Field(default=60, ge=1)
    print_rate: float = Field(default=5.0, ge=0)
    print_burst: int = Field(default=20, ge=1)
    cache_file: Path | None = None
    cache_max_entries: int = Field(default=10_000, ge=1)
    cache_max_age: float = Field(default=7 * 24 * 3600.0, gt=0)
    cache_grace: float = Field(default=30.0, ge=0)
    compute_timeout: float = Field(default=60.0, gt=0)
    max_wait: float = Field(default=30.0, ge=0)
    workers: int = Field(default=4, ge=1)
    max_jobs: int = Field(default=1000, ge=1)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("allowed_root", mode="after")
    @classmethod
    def _existing_dir(cls, value: Path) -> Path:
        resolved = value.expanduser().resolve()
        if not resolved.is_dir():
            raise ValueError(f"{value} is not an existing directory")
        return resolved

    @field_validator("cache_file", mode="after")
    @classmethod
    def _cache_parent(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser().absolute()
        if not value.parent.is_dir():
            raise ValueError(f"directory {value.parent} does not exist")
        return value


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _one_line(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    names = f"{field} ({ENV_PREFIX}{field.upper()} / {_flag(field)})"
    if err["type"] == "missing":
        return f"missing setting {names}: {_FIXES.get(field, 'set it')}"
    fix = _FIXES.get(field, "see `resilience serve --help`")
    return f"invalid setting {names}: {err['msg']} (got {err['input']!r}); fix: {fix}"


def load_settings(overrides: dict[str, Any] | None = None) -> ServiceSettings:
    """Build the settings; ``overrides`` (CLI flags, None values dropped) beat the environment.

    Raises ConfigError with a single line naming the field and the fix.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        return ServiceSettings(**given)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
