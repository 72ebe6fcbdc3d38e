"""The erasure record (both backends): what personal data was removed, when and by whom.

A data-protection officer answering "was this customer's data erased, and when?" needs a record that
outlives the data. Each erasure writes one row in the same transaction as the deletion: a ticket
(`erase_document`, kind `document`), a QA transcript (`delete_transcripts`), and each retention purge of scorecards or
the query log. A row holds the id that was erased (a ticket or transcript id, or the purge's cutoff
date), the counts removed and who asked; never any of the erased text.
"""

from __future__ import annotations

import json
from typing import Any

from kb.storage.records import now_iso

ERASURE_KINDS = ("document", "transcript", "qa_retention", "querylog_retention")


class ErasuresSql:
    def _record_erasure(self, kind: str, subject: str, counts: dict[str, int], actor: str = "") -> None:
        """One row of the erasure record, inside the caller's transaction."""
        if kind not in ERASURE_KINDS:
            raise ValueError(f"not an erasure kind: {kind}")
        self._exec("INSERT INTO erasures(ts, actor, kind, subject, counts) VALUES (?,?,?,?,?)",
                   (now_iso(), str(actor or ""), kind, str(subject), json.dumps(counts, sort_keys=True)))

    def erasures(self, *, subject: str | None = None, since: str | None = None, limit: int = 1000
                 ) -> list[dict[str, Any]]:
        """The erasure record, newest first: every row, or those of one erased id, or since a date."""
        where, params = ["1=1"], []
        if subject is not None:
            where.append("subject = ?")
            params.append(str(subject))
        if since is not None:
            where.append("ts >= ?")
            params.append(str(since))
        rows = self._rows(f"SELECT id, ts, actor, kind, subject, counts FROM erasures WHERE {' AND '.join(where)} "
                          "ORDER BY id DESC LIMIT ?", [*params, int(limit)])
        return [{**r, "id": int(r["id"]), "counts": json.loads(r["counts"] or "{}")} for r in rows]
