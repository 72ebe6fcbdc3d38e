"""Transcripts for QA: reading them from files (the model itself, `Transcript`, `Turn` and speaker roles, is
`kb.transcript`, shared with live assist).

The parsers (JSON, JSONL, "Speaker: text", WebVTT) live in `qa_rubrics.formats`; `load_inputs`
and `load_transcript` below are the entry points. Speaker labels map to the roles `agent` and
`customer` through aliases (built in, plus the `speaker_aliases` setting), the names given in the
file, and the agent's name. A transcript with no id takes its file name. Errors name the file and
the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class LoadFailure:
    """A file (or JSONL line) that could not be read, and why."""

    source: str
    reason: str


# -- reading (the parsers are in qa_rubrics.formats) ---------------------------------------------
def load_inputs(paths: Iterable[str | Path], *, aliases: Iterable[str] = (),
                exclude: Iterable[str | Path] = ()) -> Iterator[Transcript | LoadFailure]:
    """Transcripts from files, folders and JSONL files; unreadable ones come as LoadFailure (never raised)."""
    from qa_rubrics.formats import load_inputs as _load

    return _load(paths, aliases=aliases, exclude=exclude)


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
