"""Composing an answer: the section(s) of the main SOP nearest the question, their best sentences and steps
(MMR, in document order), and a sentence from the most similar past ticket's resolution."""

from __future__ import annotations

import re

import numpy as np

from kb.answers.model import Answer, AnswerSentence, Citation
from kb.answers.units import Unit, _stems
from kb.models import Document
from kb.text import normalize_ws

MAX_CHARS = 900  # an answer an agent can read in a few seconds
_META_SECTION = re.compile(r"^(purpose|scope|why this matters|overview|introduction|background|about)\b", re.I)
_GENERAL = re.compile(r"(explained|told|advised|confirmed|let \w+ know)\b", re.I)  # what was said, not done
_GREETING = re.compile(r"(dear|hi|hello|hey|thanks|thank you)\b", re.I)
_PROCEDURE = re.compile(r"procedure|steps|process|what to do|how to", re.I)
# Case details of one ticket (reference numbers such as ORD-123456, dates, weekdays) do not generalise.
_CASE_DETAIL = re.compile(r"\b(?:[A-Z]{2,}(?:-[A-Z]{2,})*-\d{4,}|ID&V|\d{1,2}(?:st|nd|rd|th)?\s+(?:Jan|Feb|Mar|Apr|May|Jun|"
                          r"Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|yesterday|today|"
                          r"tomorrow)\b|\d{1,2}/\d{1,2}")


class Composition:
    """The Answerer's composing half (mixed into `kb.answers.engine.Answerer`)."""

    def _compose(self, ans: Answer, main: dict, qvec: np.ndarray, question: str, tickets: list[dict]) -> None:
        doc, units = self._units(main["id"])
        picked: list[tuple[Unit, float]] = []
        heading = ""
        if doc.type == "sop" and units:
            picked, heading = self._pick_sop_units(doc, units, qvec)
        n_tickets = int(self.config.answer_ticket_sentences) if doc.type == "sop" else int(
            self.config.answer_max_sentences)
        # past tickets on the same subject: those nearest to the main SOP
        same = [t for t in tickets if (t["sop"] == doc.id if doc.type == "sop" else t["id"] == doc.id)]
        extra = self._pick_ticket_units(same, question, [u for u, _ in picked], n_tickets)
        lines, sentences = [], []
        for u, _ in sorted(picked, key=lambda p: p[0].start):
            lines.append(_render(u))
            sentences.append(AnswerSentence(u.text, u.doc_id, u.heading, u.kind, u.number))
        for u, _ in extra:
            lines.append(_render(u))
            sentences.append(AnswerSentence(u.text, u.doc_id, u.heading, "sentence"))
        ans.answer = "\n".join(lines)
        ans.sentences = sentences
        ans.abstained = False
        cited: list[Citation] = []
        for s in sentences:
            if all(c.id != s.source for c in cited):
                d = self._doc(s.source)[0]
                cited.append(Citation(d.id, d.type, d.title, heading if d.id == doc.id else s.heading))
        if all(c.id != doc.id for c in cited):
            cited.insert(0, Citation(doc.id, doc.type, doc.title, heading))
        ans.citations = cited
        for s in ans.sources:
            if s.id == doc.id:
                s.heading = heading
        if doc.type == "sop" and doc.status in ("draft", "archived"):
            ans.warnings.append(f"The main source, {doc.id}, is {doc.status}: check it before quoting it.")

    def _pick_sop_units(self, doc: Document, units: list[Unit], qvec: np.ndarray) -> tuple[list[tuple[Unit, float]],
                                                                                            str]:
        vecs = self.cache.vectors(self.searcher.embedder, [u.text for u in units])
        cos = vecs @ qvec
        # sections: their best unit and their best chunk; "Purpose"/"Scope" only if nothing else
        sm = self._sop_matrix()
        chunk_cos: dict[str, float] = {}
        for ch in self.store.get_chunks(doc.id):
            r = sm.row_of.get(ch.id)
            if r is not None:
                c = float(sm.matrix[r] @ qvec)
                chunk_cos[ch.heading] = max(chunk_cos.get(ch.heading, -1.0), c)
        sec_unit: dict[str, list[float]] = {}
        for u, c in zip(units, cos.tolist(), strict=True):
            sec_unit.setdefault(u.heading, []).append(c)
        for h in sec_unit:
            sec_unit[h].sort(reverse=True)
        def useful(h: str) -> bool:
            return not _META_SECTION.match(h.rsplit(" > ", 1)[-1])
        secs = [h for h in sec_unit if useful(h)] or list(sec_unit)
        # a section's best two units and its best chunk; procedure sections first on a near tie
        score = {h: 0.5 * float(np.mean(sec_unit[h][:2])) + 0.5 * chunk_cos.get(h, sec_unit[h][0])
                 + (0.04 if _PROCEDURE.search(h) else 0.0) for h in secs}
        order = sorted(secs, key=lambda h: -score[h])
        chosen = [order[0]] + [h for h in order[1:2] if score[h] >= score[order[0]] - 0.03]
        pool = [i for i, u in enumerate(units) if u.heading in chosen]
        picked = _mmr(pool, cos, vecs, int(self.config.answer_max_sentences), [len(u.text) for u in units])
        return [(units[i], float(cos[i])) for i in picked], order[0]

    def _pick_ticket_units(self, tickets: list[dict], question: str, taken: list[Unit],
                           limit: int) -> list[tuple[Unit, float]]:
        if limit <= 0:
            return []
        q = _stems(question)
        taken_stems = [_stems(u.text) for u in taken]
        out: list[tuple[Unit, float]] = []
        for t in tickets[:2]:
            if t["cos"] < 0.45:
                break
            best = None
            for u in self._units(t["id"])[1]:
                if _CASE_DETAIL.search(u.text) or _GREETING.match(u.text):
                    continue
                s = _stems(u.text)
                if not s & q or any(len(s & o) / max(1, len(s | o)) > 0.4 for o in taken_stems):
                    continue  # off the question, or says what the SOP already says
                score = t["cos"] + 0.1 * len(s & q) / max(1, len(q)) + (0.05 if _GENERAL.match(u.text) else 0.0)
                if best is None or score > best[1]:
                    best = (u, score)
            if best:
                out.append(best)
                taken_stems.append(_stems(best[0].text))
            if len(out) >= limit:
                break
        return out


def _render(u: Unit) -> str:
    """A unit as a line of the answer: sentences on one line; steps numbered, their sub-bullets
    kept on indented lines (so every line that starts at the margin begins a new unit)."""
    if u.kind != "step":
        return normalize_ws(u.text)
    first, *rest = u.text.split("\n")
    rest = [line.rstrip() if line[:1].isspace() else "   " + line.rstrip() for line in rest if line.strip()]
    return "\n".join([f"{u.number}. {first.strip()}" if u.number is not None else first.strip(), *rest])


def _mmr(pool: list[int], cos: np.ndarray, vecs: np.ndarray, limit: int, lengths: list[int],
         max_chars: int = MAX_CHARS, lam: float = 0.7) -> list[int]:
    """Maximal marginal relevance over `pool`, stopping when units fall well below the best one or
    the answer would grow past `max_chars` (the first unit is always taken)."""
    if not pool:
        return []
    top = max(float(cos[i]) for i in pool)
    floor = min(top, max(0.15, top - 0.15))
    chosen: list[int] = []
    used = 0
    left = [i for i in pool if cos[i] >= floor]
    while left and len(chosen) < limit:
        def gain(i: int) -> float:
            red = max((float(vecs[i] @ vecs[j]) for j in chosen), default=0.0)
            return lam * float(cos[i]) - (1 - lam) * red
        i = max(left, key=gain)
        left.remove(i)
        if chosen and max(float(vecs[i] @ vecs[j]) for j in chosen) > 0.9:
            continue  # near duplicate
        if chosen and used + lengths[i] > max_chars:
            continue
        chosen.append(i)
        used += lengths[i]
    return chosen
