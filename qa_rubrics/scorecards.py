"""Stored scorecards as the QA pages and API show them: the automatic result beside the human reviews.

`get_scorecard(store, id)` adds `reviewed_score` / `reviewed_verdict`: the total recomputed
(`qa_rubrics.totals`) with the latest review of each criterion in place of its automatic result;
the automatic results stay as they were. The storage itself is `kb.storage` (`QAStore`).
"""

from __future__ import annotations

from typing import Any

from qa_rubrics.totals import Item, total


def reviewed_total(criteria: list[dict[str, Any]], pass_mark: float) -> dict[str, Any]:
    if not any(c.get("human_result") for c in criteria):
        return {"reviewed_score": None, "reviewed_verdict": None}
    t = total((Item(c["id"], float(c["points"]), bool(c["critical"]), c.get("human_result") or c["result"])
               for c in criteria), float(pass_mark))
    return {"reviewed_score": t.score, "reviewed_verdict": t.verdict}


def get_scorecard(store, scorecard_id: int) -> dict[str, Any]:
    """A scorecard with its transcript, automatic results, reviews and the reviewed total."""
    card = store.get_scorecard(scorecard_id)
    card.update(reviewed_total(card["criteria"], card["pass_mark"]))
    return card
