"""Classifiers learned from labelled conversations, saved next to a tuned rubric.

`deskbook qa eval --tune OUT.yaml` (and retraining in the web app) learns one classifier per
semantic criterion. They are saved in one file, `OUT.learned.npz`, and the tuned rubric names it
with its SHA-256:

    learned:
      file: chat-support-tuned.learned.npz
      sha256: 3f9a...
      model: all-MiniLM-L6-v2

The file is self-describing (format, embedding model and dimension, rubric id and version, the
training size and the cross-validated agreement of each criterion); a file whose hash does not
match, or that was learned under another embedding model, is refused with a message that says
how to fix it, never used silently.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import InputError
from qa_rubrics.classifier import CriterionModel

FORMAT = "deskbook-qa-learned/1"


class LearnedFileError(InputError):
    code = "invalid_learned_file"


@dataclass
class LearnedModels:
    """Per criterion id, the learned classifier; `meta` describes how they were made."""

    models: dict[str, CriterionModel] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        for cid, m in self.models.items():
            arrays.update(m.to_arrays(cid))
        meta = {**self.meta, "format": FORMAT, "criteria": {cid: m.info for cid, m in self.models.items()}}
        arrays["__meta__"] = np.frombuffer(json.dumps(meta, sort_keys=True, default=_jsonable).encode("utf-8"),
                                           dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "learned file") -> LearnedModels:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(bytes(arrays.pop("__meta__")).decode("utf-8"))
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise LearnedFileError(f"{source} is not a Deskbook learned-classifier file ({exc})",
                                   hint="re-run `deskbook qa eval --tune` to write it again", field="learned") from None
        if meta.get("format") != FORMAT:
            raise LearnedFileError(f"{source} has the format {meta.get('format')!r}, expected {FORMAT}",
                                   hint="re-run `deskbook qa eval --tune` with this version of Deskbook",
                                   field="learned")
        infos = meta.get("criteria", {})
        models = {cid: CriterionModel.from_arrays(arrays, cid, infos.get(cid, {})) for cid in infos}
        return cls(models, {k: v for k, v in meta.items() if k != "criteria"})

    def save(self, path: str | Path) -> str:
        """Write atomically; the SHA-256 of the bytes written."""
        data = self.to_bytes()
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, p)
        return hashlib.sha256(data).hexdigest()


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def learned_path(rubric) -> Path | None:
    """Where the rubric's `learned:` file is (relative to the rubric file), or None."""
    if not rubric.learned:
        return None
    p = Path(rubric.learned["file"])
    if not p.is_absolute() and rubric.path:
        p = Path(rubric.path).parent / p
    return p


def load_for_rubric(rubric) -> LearnedModels | None:
    """The learned classifiers a rubric file names, checked against their hash."""
    p = learned_path(rubric)
    if p is None:
        return None
    line = rubric.lines.get(("learned", "file"))
    where = f"{rubric.path or 'the rubric'}{f', line {line}' if line else ''}"
    try:
        data = p.read_bytes()
    except OSError:
        raise LearnedFileError(f"{where}: learned.file {p} cannot be read",
                               hint="keep the .learned.npz file next to the tuned rubric, or remove the "
                                    "`learned:` block to score with the examples only", field="learned.file") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != rubric.learned["sha256"]:
        raise LearnedFileError(f"{where}: {p.name} does not match learned.sha256 (the file was changed or replaced)",
                               hint="re-run `deskbook qa eval --tune` to learn and write both again",
                               field="learned.sha256")
    return LearnedModels.from_bytes(data, source=str(p))
