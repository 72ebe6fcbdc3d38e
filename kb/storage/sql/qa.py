"""QA storage SQL (both backends): transcripts, scorecards, per-criterion results and human reviews.

Rules kept here (and by triggers in the schema):

- a scorecard (transcript x rubric id x rubric version x scoring time) is never updated:
  scoring again adds a new one, so results from older rubric versions stay;
- the automatic result of a criterion is never overwritten: a human review is stored beside it;
  every review is kept and the latest one counts;
- a scorecard saved with an idempotency key (a background job's transcript) is stored once,
  however often the job is retried;
- transcripts are stored as given (the caller redacts them); the original text only when the
  caller passes it (the `store_original_text` setting);
- nothing is changed, but transcripts may be removed with everything scored on them: a customer's
  erasure request (`delete_transcripts`) and the retention period (`purge_qa`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kb.errors import InputError, NotFoundError
from kb.models import content_hash
from kb.storage.records import EXPORT_COLUMNS, QA_RESULTS, now_iso

RESULTS = QA_RESULTS
ORDERS = {
    "score": "s.score IS NULL, s.score ASC, s.id ASC",
    "-score": "s.score IS NULL, s.score DESC, s.id ASC",
    "scored_at": "s.scored_at ASC, s.id ASC",
    "-scored_at": "s.scored_at DESC, s.id DESC",
    "review": "needs_review DESC, s.score IS NULL, s.score ASC, s.id ASC",
}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def transcript_hash(turns: Sequence[dict[str, Any]]) -> str:
    return content_hash(_json(list(turns)))


def _where(agent=None, rubric=None, rubric_version=None, verdict=None, since=None, until=None,
           transcript=None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for col, value in (("s.agent", agent), ("s.rubric_id", rubric), ("s.transcript_id", transcript)):
        if value:
            clauses.append(f"{col} = ?")
            params.append(value)
    if rubric_version is not None:
        clauses.append("s.rubric_version = ?")
        params.append(int(rubric_version))
    if verdict:
        if verdict not in RESULTS:
            raise InputError(f"Unknown verdict {verdict!r}", hint="use pass, fail or na", field="verdict")
        clauses.append("s.verdict = ?")
        params.append(verdict)
    # the call's date when known, else the scoring date; ISO strings compare as dates
    day = "substr(coalesce(nullif(s.started_at, ''), s.scored_at), 1, 10)"
    if since:
        clauses.append(f"{day} >= ?")
        params.append(str(since)[:10])
    if until:
        clauses.append(f"{day} <= ?")
        params.append(str(until)[:10])
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _card_row(r: dict[str, Any]) -> dict[str, Any]:
    d = dict(r)
    d.pop("idempotency_key", None)
    d["sections"] = json.loads(d.get("sections") or "[]")
    for key in ("reviews", "needs_review"):
        if key in d:
            d[key] = int(d[key])
    return d


class QaSql:
    def save_transcript(self, transcript: dict[str, Any]) -> str:
        """Store a transcript (its `turns` as they should be shown: redacted); returns its content hash.

        Keys: id, turns, and optionally agent, channel, started_at, source, metadata, redacted (bool),
        original_turns (only when the original text may be kept). Saving the same content again is a
        no-op; changed content is stored beside the old one.
        """
        tid = str(transcript.get("id") or "").strip()
        if not tid:
            raise InputError("A transcript needs an id", field="id")
        turns = transcript.get("turns")
        if not isinstance(turns, list):
            raise InputError(f"Transcript {tid}: 'turns' must be a list", field="turns")
        h = transcript_hash(turns)
        original = transcript.get("original_turns")
        self._exec(
            "INSERT INTO qa_transcripts(id, content_hash, agent, channel, started_at, source, turns, original_turns, "
            "redacted, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (tid, h, transcript.get("agent") or "", transcript.get("channel") or "",
             transcript.get("started_at") or "", transcript.get("source") or "", _json(turns),
             _json(original) if original is not None else None, 1 if transcript.get("redacted", True) else 0,
             _json(transcript.get("metadata") or {}), now_iso()))
        return h

    def scorecard_for_key(self, idempotency_key: str) -> int | None:
        v = self._value("SELECT id FROM qa_scorecards WHERE idempotency_key = ?", (idempotency_key,))
        return int(v) if v is not None else None

    def save_scorecard(self, card: dict[str, Any], *, transcript: dict[str, Any] | None = None,
                       transcript_hash: str | None = None, idempotency_key: str | None = None) -> int:
        """Store one scorecard (the dict of `Scorecard.to_dict()`) and its criterion results; returns its id."""
        for key in ("transcript_id", "rubric_id", "rubric_version", "verdict", "criteria"):
            if key not in card:
                raise InputError(f"A scorecard needs '{key}'", field=key)
        if card["verdict"] not in RESULTS:
            raise InputError(f"Unknown verdict {card['verdict']!r}", field="verdict")
        for c in card["criteria"]:
            if c.get("result") not in RESULTS:
                raise InputError(f"Criterion {c.get('id')!r}: unknown result {c.get('result')!r}", field="result")
        with self.transaction():
            if idempotency_key:
                self._lock_key(f"scorecard:{idempotency_key}")
                existing = self.scorecard_for_key(idempotency_key)
                if existing is not None:
                    return existing
            h = self.save_transcript(transcript) if transcript is not None else transcript_hash
            if h is None:
                h = self._value("SELECT content_hash FROM qa_transcripts WHERE id = ? ORDER BY created_at DESC, "
                                "content_hash LIMIT 1", (card["transcript_id"],))
                if h is None:
                    raise NotFoundError(f"Transcript {card['transcript_id']!r} is not stored",
                                        hint="save the transcript first, or pass it to save_scorecard")
            sid = self._insert(
                "INSERT INTO qa_scorecards(transcript_id, transcript_hash, rubric_id, rubric_version, rubric_hash, "
                "pass_mark, agent, channel, started_at, score, verdict, reason, earned, available, sections, scored_at, "
                "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (card["transcript_id"], h, card["rubric_id"], int(card["rubric_version"]), card.get("rubric_hash", ""),
                 float(card.get("pass_mark") or 0), card.get("agent") or "", card.get("channel") or "",
                 card.get("started_at") or "", card.get("score"), card["verdict"], card.get("reason", ""),
                 float(card.get("earned") or 0), float(card.get("available") or 0), _json(card.get("sections") or []),
                 card.get("scored_at") or now_iso(), idempotency_key))
            self._many(
                "INSERT INTO qa_criterion_results(scorecard_id, criterion_id, ord, section_id, method, result, "
                "confidence, score, points, earned, critical, evidence, reason, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(sid, c["id"], i, c.get("section", ""), c.get("method", ""), c["result"],
                  float(c.get("confidence", 1.0)), float(c.get("score", 0.0)), float(c.get("points", 0.0)),
                  float(c.get("earned", 0.0)), 1 if c.get("critical") else 0, _json(c.get("evidence") or []),
                  c.get("reason", ""), _json(c.get("detail") or {})) for i, c in enumerate(card["criteria"])])
        return sid

    def list_scorecards(self, *, agent: str | None = None, rubric: str | None = None,
                        rubric_version: int | None = None, verdict: str | None = None, since: str | None = None,
                        until: str | None = None, transcript: str | None = None, latest_only: bool = False,
                        order: str = "-scored_at", limit: int = 100, offset: int = 0,
                        review_confidence: float = 0.7) -> list[dict[str, Any]]:
        """Scorecard summaries, filtered (agent, rubric, verdict, date range on the call date) and ordered by
        `order` (score, -score, scored_at, -scored_at, review). `latest_only`: the newest per transcript and
        rubric. `needs_review` counts the criteria whose automatic confidence is under `review_confidence`
        and that nobody has reviewed yet; order `review` lists those first."""
        if order not in ORDERS:
            raise InputError(f"Unknown order {order!r}", hint=f"use one of {', '.join(ORDERS)}", field="order")
        where, params = _where(agent, rubric, rubric_version, verdict, since, until, transcript)
        if latest_only:
            where += (" AND " if where else " WHERE ") + (
                "s.id = (SELECT max(s2.id) FROM qa_scorecards s2 WHERE s2.transcript_id = s.transcript_id "
                "AND s2.rubric_id = s.rubric_id)")
        sql = (f"SELECT * FROM (SELECT s.*, (SELECT count(*) FROM qa_reviews r WHERE r.scorecard_id = s.id) AS reviews, "
               "(SELECT count(*) FROM qa_criterion_results c WHERE c.scorecard_id = s.id AND c.confidence < ? "
               "AND NOT EXISTS (SELECT 1 FROM qa_reviews r2 WHERE r2.scorecard_id = s.id "
               f"AND r2.criterion_id = c.criterion_id)) AS needs_review FROM qa_scorecards s{where}) s "
               f"ORDER BY {ORDERS[order]} LIMIT ? OFFSET ?")
        rows = self._rows(sql, [float(review_confidence), *params, int(limit), int(offset)])
        return [_card_row(r) for r in rows]

    def get_scorecard(self, scorecard_id: int) -> dict[str, Any]:
        """A scorecard with its transcript turns, criterion results (auto) and reviews (human) per criterion."""
        row = self._row("SELECT * FROM qa_scorecards WHERE id = ?", (int(scorecard_id),))
        if row is None:
            raise NotFoundError(f"No scorecard with id {scorecard_id}")
        card = _card_row(row)
        t = self._row("SELECT turns FROM qa_transcripts WHERE id = ? AND content_hash = ?",
                      (card["transcript_id"], card["transcript_hash"]))
        card["turns"] = json.loads(t["turns"]) if t else []
        reviews: dict[str, list[dict[str, Any]]] = {}
        for r in self._rows("SELECT * FROM qa_reviews WHERE scorecard_id = ? ORDER BY id", (card["id"],)):
            reviews.setdefault(r["criterion_id"], []).append(r)
        criteria = []
        for d in self._rows("SELECT * FROM qa_criterion_results WHERE scorecard_id = ? ORDER BY ord", (card["id"],)):
            d["id"] = d.pop("criterion_id")
            d.pop("scorecard_id", None)
            d["critical"] = bool(d["critical"])
            d["evidence"] = json.loads(d["evidence"])
            d["detail"] = json.loads(d["detail"])
            d["reviews"] = reviews.get(d["id"], [])
            d["human_result"] = d["reviews"][-1]["result"] if d["reviews"] else None
            criteria.append(d)
        card["criteria"] = criteria
        return card

    def add_review(self, scorecard_id: int, criterion_id: str, *, reviewer: str, result: str,
                   comment: str = "", reviewed_at: str | None = None) -> dict[str, Any]:
        """Record a human verdict for one criterion of one scorecard, beside the automatic one."""
        if not reviewer or not str(reviewer).strip():
            raise InputError("A review needs the reviewer's name", field="reviewer")
        result = str(result).strip().lower()
        if result not in RESULTS:
            raise InputError(f"Unknown result {result!r}", hint="use pass, fail or na", field="result")
        with self.transaction():
            if self._row("SELECT 1 AS x FROM qa_criterion_results WHERE scorecard_id = ? AND criterion_id = ?",
                         (int(scorecard_id), criterion_id)) is None:
                if self._row("SELECT 1 AS x FROM qa_scorecards WHERE id = ?", (int(scorecard_id),)) is None:
                    raise NotFoundError(f"No scorecard with id {scorecard_id}")
                raise NotFoundError(f"Scorecard {scorecard_id} has no criterion {criterion_id!r}", field="criterion")
            ts = reviewed_at or now_iso()
            rid = self._insert("INSERT INTO qa_reviews(scorecard_id, criterion_id, reviewer, result, comment, "
                               "reviewed_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                               (int(scorecard_id), criterion_id, reviewer.strip(), result, comment or "", ts))
        return {"id": rid, "scorecard_id": int(scorecard_id), "criterion_id": criterion_id,
                "reviewer": reviewer.strip(), "result": result, "comment": comment or "", "reviewed_at": ts}

    def export_rows(self, **filters: Any) -> list[dict[str, Any]]:
        """One row per scorecard x criterion: the automatic result and the latest human review beside it."""
        where, params = _where(**filters)
        sql = f"""
            SELECT s.id AS scorecard_id, s.transcript_id, s.rubric_id, s.rubric_version, s.scored_at, s.agent,
                   s.channel, s.started_at, s.score, s.verdict, c.criterion_id, c.section_id, c.method, c.points,
                   c.result AS auto_result, c.confidence AS auto_confidence,
                   r.result AS human_result, r.reviewer, r.reviewed_at, r.comment AS review_comment
            FROM qa_scorecards s
            JOIN qa_criterion_results c ON c.scorecard_id = s.id
            LEFT JOIN qa_reviews r ON r.id = (SELECT max(r2.id) FROM qa_reviews r2
                                              WHERE r2.scorecard_id = s.id AND r2.criterion_id = c.criterion_id)
            {where}
            ORDER BY s.id, c.ord"""
        out = []
        for d in self._rows(sql, params):
            d["final_result"] = d["human_result"] or d["auto_result"]
            out.append({k: d.get(k) for k in EXPORT_COLUMNS})
        return out

    # -- erasure and retention -----------------------------------------------------------------
    def delete_transcripts(self, ids: Sequence[str], *, actor: str = "") -> dict[str, int]:
        """Every stored content of these transcripts, with their scorecards, automatic results and reviews
        (a customer's erasure request). Scorecards are never changed, but they may be removed. Each
        transcript removed gets a row in the erasure record, with `actor`."""
        ids = list(dict.fromkeys(str(i) for i in ids if str(i).strip()))
        out = {"transcripts": 0, "scorecards": 0, "reviews": 0}
        with self.transaction():
            for tid in ids:
                one = self._delete_cards("SELECT id FROM qa_scorecards WHERE transcript_id = ?", [tid])
                one["transcripts"] = self._exec("DELETE FROM qa_transcripts WHERE id = ?", (tid,))
                if any(one.values()):
                    self._record_erasure("transcript", tid, one, actor)
                out = {k: out[k] + one[k] for k in out}
        return out

    def purge_qa(self, cutoff: str, *, actor: str = "") -> dict[str, int]:
        """Scorecards of calls before `cutoff` (the call's date when known, else the scoring date), their results
        and reviews, and the transcript contents they were the last scorecards of (one row in the erasure
        record when anything went)."""
        day = "substr(coalesce(nullif(started_at, ''), scored_at), 1, 10)"
        cards, params = f"SELECT id FROM qa_scorecards WHERE {day} < ?", [str(cutoff)[:10]]
        with self.transaction():
            scored = self._rows(f"SELECT DISTINCT transcript_id, transcript_hash FROM qa_scorecards WHERE id IN ({cards})",
                                params)
            out = self._delete_cards(cards, params)
            out["transcripts"] = sum(self._exec(
                "DELETE FROM qa_transcripts WHERE id = ? AND content_hash = ? AND NOT EXISTS (SELECT 1 FROM "
                "qa_scorecards s WHERE s.transcript_id = qa_transcripts.id AND s.transcript_hash = "
                "qa_transcripts.content_hash)", (r["transcript_id"], r["transcript_hash"])) for r in scored)
            if any(out.values()):
                self._record_erasure("qa_retention", str(cutoff)[:10], out, actor)
        return out

    def _delete_cards(self, cards_sql: str, params: Sequence[Any]) -> dict[str, int]:
        """The scorecards `cards_sql` selects, with their results and reviews (inside the caller's transaction)."""
        n_reviews = self._exec(f"DELETE FROM qa_reviews WHERE scorecard_id IN ({cards_sql})", params)
        self._exec(f"DELETE FROM qa_criterion_results WHERE scorecard_id IN ({cards_sql})", params)
        return {"transcripts": 0, "scorecards": self._exec(f"DELETE FROM qa_scorecards WHERE id IN ({cards_sql})", params),
                "reviews": n_reviews}
