"""QA learning storage SQL (both backends): classifiers learned from reviews, and the reviews as labels.

A learned model is a candidate until an analyst or manager adopts it (the rubric's previous adopted
model, if any, becomes `superseded`) or discards it. Nothing is deleted: old scorecards keep naming
the rubric version they were scored with, and the version's text and classifiers stay here.
"""

from __future__ import annotations

import json
from typing import Any

from kb.errors import InputError, NotFoundError
from kb.storage.records import now_iso

MODEL_STATUSES = ("candidate", "adopted", "discarded", "superseded")


def _model_row(r: dict[str, Any], *, with_blob: bool) -> dict[str, Any]:
    d = dict(r)
    d["report"] = json.loads(d.get("report") or "{}")
    blob = d.pop("learned", None)
    if with_blob:
        d["learned"] = bytes(blob) if blob is not None else None
    return d


class QaModelSql:
    def save_qa_model(self, *, rubric_id: str, base_hash: str, version: int, rubric_text: str,
                      learned: bytes | None, report: dict[str, Any], trained_on: int, created_by: str) -> int:
        """Store a learned model as a candidate; returns its id."""
        if not rubric_id or not rubric_text:
            raise InputError("A learned model needs its rubric id and text", field="rubric_id")
        return self._insert(
            "INSERT INTO qa_models(rubric_id, base_hash, version, rubric_text, learned, report, trained_on, status, "
            "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'candidate', ?, ?) RETURNING id",
            (rubric_id, base_hash, int(version), rubric_text, learned, json.dumps(report, default=str),
             int(trained_on), created_by or "", now_iso()))

    def get_qa_model(self, model_id: int, *, with_blob: bool = True) -> dict[str, Any]:
        row = self._row("SELECT * FROM qa_models WHERE id = ?", (int(model_id),))
        if row is None:
            raise NotFoundError(f"No learned model with id {model_id}")
        return _model_row(row, with_blob=with_blob)

    def list_qa_models(self, rubric_id: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, without the classifier bytes."""
        where, params = (" WHERE rubric_id = ?", [rubric_id]) if rubric_id else ("", [])
        rows = self._rows(f"SELECT * FROM qa_models{where} ORDER BY id DESC LIMIT ?", [*params, int(limit)])
        return [_model_row(r, with_blob=False) for r in rows]

    def adopted_qa_model(self, rubric_id: str) -> dict[str, Any] | None:
        row = self._row("SELECT * FROM qa_models WHERE rubric_id = ? AND status = 'adopted' ORDER BY id DESC LIMIT 1",
                        (rubric_id,))
        return _model_row(row, with_blob=True) if row else None

    def decide_qa_model(self, model_id: int, decision: str, *, by: str) -> dict[str, Any]:
        """Adopt or discard a candidate. Adopting supersedes the rubric's previously adopted model."""
        if decision not in ("adopted", "discarded"):
            raise InputError(f"Unknown decision {decision!r}", hint="adopt or discard", field="decision")
        with self.transaction():
            self._lock_key(f"qa-model:{model_id}")
            model = self.get_qa_model(model_id, with_blob=False)
            if model["status"] != "candidate":
                raise InputError(f"Learned model {model_id} is already {model['status']}",
                                 hint="retrain to get a new candidate", field="status")
            ts = now_iso()
            if decision == "adopted":
                self._exec("UPDATE qa_models SET status = 'superseded', decided_by = ?, decided_at = ? "
                           "WHERE rubric_id = ? AND status = 'adopted'", (by, ts, model["rubric_id"]))
            self._exec("UPDATE qa_models SET status = ?, decided_by = ?, decided_at = ? WHERE id = ?",
                       (decision, by, ts, int(model_id)))
        return self.get_qa_model(model_id, with_blob=False)

    def review_labels(self, rubric_id: str) -> list[dict[str, Any]]:
        """Every reviewed conversation of a rubric, newest scorecard per transcript: its redacted turns,
        agent and channel, and per criterion the latest human verdict (confirmations included)."""
        cards = self._rows(
            "SELECT s.id, s.transcript_id, s.transcript_hash, s.agent, s.channel FROM qa_scorecards s "
            "WHERE s.rubric_id = ? AND EXISTS (SELECT 1 FROM qa_reviews r WHERE r.scorecard_id = s.id) "
            "ORDER BY s.id DESC", (rubric_id,))
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for c in cards:
            if c["transcript_id"] in seen:
                continue
            seen.add(c["transcript_id"])
            t = self._row("SELECT turns FROM qa_transcripts WHERE id = ? AND content_hash = ?",
                          (c["transcript_id"], c["transcript_hash"]))
            labels: dict[str, str] = {}
            for r in self._rows("SELECT criterion_id, result FROM qa_reviews WHERE scorecard_id = ? ORDER BY id",
                                (c["id"],)):
                labels[r["criterion_id"]] = r["result"]  # the latest review counts
            out.append({"scorecard_id": c["id"], "transcript_id": c["transcript_id"], "agent": c["agent"],
                        "channel": c["channel"], "turns": json.loads(t["turns"]) if t else [], "labels": labels})
        return out
