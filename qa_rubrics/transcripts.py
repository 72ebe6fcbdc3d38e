"""Transcripts for QA: reading them from files (the model itself, `Transcript`, `Turn` and speaker roles, is
`kb.transcript`, shared with live assist).

The parsers (JSON, JSONL, "Speaker: text", WebVTT) live in `qa_rubrics.formats`; `load_inputs`
and `load_transcript` below are the entry points. Speaker labels map to the roles `agent` and
`customer` through aliases (built in, plus the `speaker_aliases` setting), the names given in the
file, and the agent's name. A transcript with no id takes its file name. Errors name the file and
the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.text import bad_character
from kb.transcript import (  # noqa: F401  (the one transcript model, shared with live assist)
    BUILTIN_ALIASES,
    ROLES,
    SpeakerMap,
    Transcript,
    TranscriptError,
    Turn,
    norm_label,
    parse_time,
)

EXTENSIONS = (".json", ".jsonl", ".txt", ".vtt")


@dataclass(frozen=True)
class TranscriptDefaults:
    """What an import says about transcripts whose files do not say it themselves.

    From the QA import form or the CLI flags (`--agent`, `--channel`, `--date`, `--customer`).
    A value in the file (JSON field, text header, WebVTT NOTE) wins over these.
    """

    agent: str = ""
    channel: str = ""
    started_at: str = ""
    customer: str = ""

    @classmethod
    def from_values(cls, *, agent: str | None = None, channel: str | None = None, date: str | None = None,
                    customer: str | None = None, where: str = "") -> TranscriptDefaults:
        """Checked values; a date that is not ISO 8601 is an error naming `where` ("--date")."""
        started = normalize_date(date, where=where or "date") if date else ""
        return cls(agent=(agent or "").strip(), channel=(channel or "").strip().lower(), started_at=started,
                   customer=(customer or "").strip())

    def apply(self, t: Transcript) -> Transcript:
        if not t.agent and self.agent:
            t.agent = self.agent
        if not t.channel and self.channel:
            t.channel = self.channel
        if not t.started_at and self.started_at:
            t.started_at = self.started_at
        if not t.customer and self.customer:
            t.customer = self.customer
        return t


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


def normalize_date(value: Any, *, where: str = "date") -> str:
    """An ISO 8601 date or date-time ('2026-09-04', '2026-09-04T08:41:00Z'), checked; TranscriptError if not."""
    from datetime import datetime

    text = str(value).strip()
    if not _DATE.match(text):
        raise TranscriptError(f"{where}: {text[:40]!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][Z]",
                              field="date")
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TranscriptError(f"{where}: {text[:40]!r} is not a valid date", field="date") from None
    return text


MAX_TURN_CHARS = 100_000  # one turn: a long monologue is a few thousand characters


def check_transcript(t: Transcript) -> str | None:
    """Why a parsed transcript cannot be scored (a turn far too long, a character no database stores), or None."""
    for i, turn in enumerate(t.turns):
        if len(turn.text) > MAX_TURN_CHARS:
            return (f"{t.source}: turn {i + 1} has {len(turn.text):,} characters, more than {MAX_TURN_CHARS:,}; "
                    "split the transcript into turns")
        bad = bad_character(turn.text) or bad_character(turn.label or "")
        if bad:
            return f"{t.source}: turn {i + 1} has {bad}; remove it (the export that made the file may be broken)"
    for name in ("id", "agent", "channel", "customer"):
        bad = bad_character(str(getattr(t, name) or ""))
        if bad:
            return f"{t.source}: the {name} has {bad}"
    return None


@dataclass
class LoadFailure:
    """A file (or JSONL line) that could not be read, and why."""

    source: str
    reason: str


# -- reading (the parsers are in qa_rubrics.formats) ---------------------------------------------
def load_inputs(paths: Iterable[str | Path], *, aliases: Iterable[str] = (), exclude: Iterable[str | Path] = (),
                defaults: TranscriptDefaults | None = None) -> Iterator[Transcript | LoadFailure]:
    """Transcripts from files, folders and JSONL files; unreadable ones come as LoadFailure (never raised)."""
    from qa_rubrics.formats import load_inputs as _load

    return _load(paths, aliases=aliases, exclude=exclude, defaults=defaults)


def load_transcript(path: str | Path, *, aliases: Iterable[str] = ()) -> Transcript:
    """Exactly one transcript from one file; a failure raises TranscriptError."""
    from qa_rubrics.formats import load_transcript as _load

    return _load(path, aliases=aliases)


def parse_file(path: str | Path, speakers: SpeakerMap | None = None) -> Iterator[Transcript | LoadFailure]:
    from qa_rubrics.formats import parse_file as _parse

    return _parse(path, speakers)


def expand_inputs(paths: Iterable[str | Path], *, exclude: Iterable[str | Path] = ()) -> list[Path]:
    from qa_rubrics.formats import expand_inputs as _expand

    return _expand(paths, exclude=exclude)
