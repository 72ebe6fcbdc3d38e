"""Query-log SQL (both backends): logged requests, their clicks and feedback, document views, query vectors.

Redaction happens before anything reaches this module (`kb.insights.querylog`); the store keeps what
it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kb.errors import NotFoundError

LOG_COLUMNS = ("ts", "kind", "query", "query_hash", "mode", "user_id", "agent", "results", "top_score", "abstained",
               "confidence", "redactions")


def _window(since: str | None, until: str | None, col: str = "ts") -> tuple[str, list[str]]:
    where, params = ["1=1"], []
    if since is not None:
        where.append(f"{col} >= ?")
        params.append(since)
    if until is not None:
        where.append(f"{col} < ?")
        params.append(until)
    return " AND ".join(where), params


class QueryLogSql:
    def log_query(self, row: dict[str, Any], *, vector: tuple[str, str, np.ndarray] | None = None) -> int:
        """Insert one logged request; `vector` = (query hash, model, embedding) to cache with it."""
        with self.transaction():
            qid = self._insert(f"INSERT INTO query_log({', '.join(LOG_COLUMNS)}) VALUES "
                               f"({self._in(LOG_COLUMNS)}) RETURNING id", [row[c] for c in LOG_COLUMNS])
            if vector is not None:
                h, model, v = vector
                self.put_query_vectors(model, {h: v})
        return qid

    def fill_logged_queries(self, rows: Sequence[tuple[int, str, str, int]], *, vectors: dict[str, np.ndarray],
                            model: str) -> None:
        """Pending rows (`kb.insights.deferred`) get their redacted query: rows of (id, query, query hash,
        redactions), in one transaction with the vectors to cache (query hash -> embedding)."""
        with self.transaction():
            self._many("UPDATE query_log SET query = ?, query_hash = ?, redactions = ? WHERE id = ?",
                       [(q, h, int(n), int(i)) for i, q, h, n in rows])
            if vectors:
                self.put_query_vectors(model, vectors)

    def add_query_event(self, query_id: int, kind: str, doc_id: str, user_id: str, ts: str) -> None:
        with self.transaction():
            if self._row("SELECT 1 AS x FROM query_log WHERE id = ?", (int(query_id),)) is None:
                raise NotFoundError(f"No logged query with id {query_id}",
                                    hint="it may have been purged (querylog_retention_days)")
            self._exec("INSERT INTO query_events(query_id, ts, kind, doc_id, user_id) VALUES (?,?,?,?,?)",
                       (int(query_id), ts, kind, doc_id, user_id))

    def add_doc_view(self, doc_id: str, user_id: str, source: str, ts: str) -> None:
        self._exec("INSERT INTO doc_views(ts, doc_id, user_id, source) VALUES (?,?,?,?)", (ts, doc_id, user_id, source))

    def query_rows(self, since: str | None, until: str | None, *, failed_below: float | None = None
                   ) -> tuple[list[dict[str, Any]], dict[int, list[tuple[str, str]]]]:
        cond, params = _window(since, until)
        qcond, qparams = _window(since, until, "q.ts")
        sql = f"SELECT * FROM query_log WHERE {cond} AND redactions >= 0"  # not the pending (kb.insights.deferred)
        if failed_below is not None:
            sql += (" AND (abstained = 1 OR top_score < ? OR results = '[]' OR id IN "
                    "(SELECT query_id FROM query_events WHERE kind = 'not_helpful'))")
            params = [*params, float(failed_below)]
        rows = self._rows(sql + " ORDER BY ts, id", params)
        events: dict[int, list[tuple[str, str]]] = {}
        for r in self._rows("SELECT e.query_id, e.kind, e.doc_id FROM query_events e JOIN query_log q ON "
                            f"q.id = e.query_id WHERE {qcond} ORDER BY e.id", qparams):
            events.setdefault(int(r["query_id"]), []).append((r["kind"], r["doc_id"]))
        return rows, events

    def count_queries(self, since: str | None, until: str | None, *, unscored: bool = False) -> int:
        cond, params = _window(since, until)
        cond += " AND redactions >= 0"
        if unscored:
            cond += " AND top_score IS NULL"
        return int(self._value(f"SELECT count(*) AS n FROM query_log WHERE {cond}", params))

    def last_views(self) -> dict[str, str]:
        return {r["doc_id"]: r["ts"] for r in self._rows("SELECT doc_id, max(ts) AS ts FROM doc_views GROUP BY doc_id")}

    def view_count(self) -> int:
        return int(self._value("SELECT count(*) AS n FROM doc_views"))

    def query_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        hashes = list(hashes)
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            for r in self._rows(f"SELECT query_hash, vector FROM query_vectors WHERE model = ? AND query_hash IN "
                                f"({self._in(part)})", [model, *part]):
                out[r["query_hash"]] = np.frombuffer(bytes(r["vector"]), dtype=np.float32)
        return out

    def put_query_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        self._many("INSERT INTO query_vectors(query_hash, model, vector) VALUES (?,?,?) ON CONFLICT(query_hash, model) "
                   "DO UPDATE SET vector = excluded.vector",
                   [(h, model, self._blob(np.ascontiguousarray(v, dtype=np.float32).tobytes()))
                    for h, v in vectors.items()])

    def purge_querylog(self, cutoff: str, *, actor: str = "") -> dict[str, int]:
        with self.transaction():
            n_events = self._exec("DELETE FROM query_events WHERE query_id IN (SELECT id FROM query_log WHERE ts < ?) "
                                  "OR ts < ?", (cutoff, cutoff))
            n_queries = self._exec("DELETE FROM query_log WHERE ts < ?", (cutoff,))
            n_views = self._exec("DELETE FROM doc_views WHERE ts < ?", (cutoff,))
            n_vectors = self._exec("DELETE FROM query_vectors WHERE query_hash NOT IN (SELECT query_hash FROM query_log)")
            out = {"queries": n_queries, "events": n_events, "views": n_views, "vectors": n_vectors}
            if any(out.values()):
                self._record_erasure("querylog_retention", str(cutoff)[:10], out, actor)
        return out

    def activity_state(self) -> tuple:
        r = self._row(
            "SELECT (SELECT count(*) FROM query_log) AS a, (SELECT max(id) FROM query_log) AS b, "
            "(SELECT count(*) FROM query_events) AS c, (SELECT max(id) FROM query_events) AS d, "
            "(SELECT count(*) FROM doc_views) AS e, (SELECT max(id) FROM doc_views) AS f, "
            "(SELECT count(*) FROM documents) AS g, (SELECT max(updated_at) FROM documents) AS h, "
            "(SELECT count(*) FROM qa_scorecards) AS i, (SELECT max(id) FROM qa_scorecards) AS j, "
            "(SELECT count(*) FROM qa_reviews) AS k, (SELECT max(id) FROM qa_reviews) AS l")
        return (self.vectors_generation(), tuple(r.values()) if r else ())
