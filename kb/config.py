"""Settings: one table of named settings with defaults and help.

Resolution order (later wins): built-in defaults, then a TOML file (`deskbook.toml` in the
working directory, or the file named by `DESKBOOK_CONFIG`), then `DESKBOOK_<NAME>` environment
variables, then explicit overrides (command-line flags, test config).

The settings themselves are one table, `kb.settings.SETTINGS`; the README's and docs' settings tables
are generated from it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import ConfigError
from kb.scales import PACKAGED, check_setting
from kb.settings import BY_NAME, SETTINGS, Setting

_BY_NAME = BY_NAME


def cache_dir() -> Path:
    """Deskbook's cache on this machine (the QA sentence bank's vectors, the query export of the model):
    `DESKBOOK_CACHE_DIR`, else `$XDG_CACHE_HOME/deskbook` or `~/.cache/deskbook`."""
    base = os.environ.get("DESKBOOK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deskbook")
    return Path(base)


@dataclass
class Config:
    """Resolved settings. Attribute access: `config.model`, `config.db_path`."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        if name in _BY_NAME:
            return _BY_NAME[name].default
        raise AttributeError(name)

    @property
    def database(self) -> str:
        """What the `db` setting names: a postgresql:// URL, or a SQLite path (default <data_dir>/deskbook.db)."""
        db = str(self.values.get("db") or "")
        return db or str(Path(self.values.get("data_dir", "data")) / "deskbook.db")

    def with_overrides(self, **overrides: Any) -> Config:
        vals = dict(self.values)
        for k, v in overrides.items():
            if v is None:
                continue
            if k not in _BY_NAME:
                raise ConfigError(f"Unknown setting {k!r}", hint="see the settings table in README.md")
            vals[k] = _coerce(_BY_NAME[k], v)
        return Config(vals)


def all_settings() -> tuple[Setting, ...]:
    return SETTINGS


def _coerce(setting: Setting, value: Any) -> Any:
    default = setting.default
    if setting.name in PACKAGED:  # a similarity on the model's own scale: auto or a number in range
        return check_setting(setting.name, value)
    if setting.choices:
        value = str(value).strip().lower()
        if value not in setting.choices:
            raise ConfigError(f"Setting {setting.name!r} has the value {value!r}, which is not one of "
                              f"{', '.join(setting.choices)}", hint=setting.help, field=setting.name)
        return value
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int | float):
            number = int(value) if isinstance(default, int) else float(value)
            if number != number or (setting.low is not None and number < setting.low) or (
                    setting.high is not None and number > setting.high):
                raise ConfigError(f"Setting {setting.name!r} is {value!r}, outside the range {setting.low:g} to "
                                  f"{setting.high:g}", hint=setting.help, field=setting.name)
            return number
        if isinstance(default, list):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return list(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"Setting {setting.name!r} has the value {value!r}, which is not a valid {type(default).__name__}",
            hint=setting.help,
            field=setting.name,
        ) from None
    return value


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Defaults, then the TOML file, then DESKBOOK_* variables, then `overrides`."""
    values = {s.name: s.default for s in all_settings()}
    cfg_path = Path(path or os.environ.get("DESKBOOK_CONFIG") or "deskbook.toml")
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cfg_path}: cannot read the settings file: {exc}", hint="fix the TOML syntax") from None
        data = data.get("deskbook", data)
        for k, v in data.items():
            if k not in _BY_NAME:
                raise ConfigError(f"{cfg_path}: unknown setting {k!r}", hint="see the settings table in README.md", field=k)
            values[k] = _coerce(_BY_NAME[k], v)
    elif path:
        raise ConfigError(f"Settings file {cfg_path} does not exist")
    for s in all_settings():
        env = os.environ.get(f"DESKBOOK_{s.name.upper()}")
        if env is not None:
            values[s.name] = _coerce(s, env)
    cfg = Config(values)
    return cfg.with_overrides(**overrides) if overrides else cfg
