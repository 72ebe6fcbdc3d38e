"""Composing an answer: the section(s) of the main SOP nearest the question, their best sentences and steps
(MMR, in document order, a one-step gap filled and a longer one shown as "…"), the customer wording
("Say:" lines) apart from the agent's checklist, and what past tickets add: a sentence quoted only
when it holds nothing specific to that ticket's customer (`kb.answers.casefree`), the tickets cited."""

from __future__ import annotations

import re

import numpy as np

from kb.answers.model import Answer, AnswerSentence, ChecklistItem, Citation
from kb.answers.units import Unit, _stems
from kb.answers.wording import plain, split_step
from kb.models import Document
from kb.text import normalize_ws

MAX_CHARS = 900  # an answer an agent can read in a few seconds
FILL_CHARS = 1400  # filling a one-step gap may take the answer up to this
SUPPORT_COS = 0.5  # a past ticket this close to the question, about the main SOP, is cited as support
MAX_SUPPORT = 3
GAP = "…"
_META_SECTION = re.compile(r"^(purpose|scope|why this matters|overview|introduction|background|about)\b", re.I)
_GENERAL = re.compile(r"(explained|told|advised|confirmed|let \w+ know)\b", re.I)  # what was said, not done
_PROCEDURE = re.compile(r"procedure|steps|process|what to do|how to", re.I)


class Composition:
    """The Answerer's composing half (mixed into `kb.answers.engine.Answerer`)."""

    def _compose(self, ans: Answer, main: dict, qvec: np.ndarray, question: str, tickets: list[dict]) -> None:
        doc, units = self._units(main["id"])
        picked: list[int] = []
        heading = ""
        if doc.type == "sop" and units:
            picked, heading = self._pick_sop_units(doc, units, qvec)
            picked = fill_step_gaps(units, picked)
        n_tickets = int(self.config.answer_ticket_sentences) if doc.type == "sop" else int(
            self.config.answer_max_sentences)
        # past tickets on the same subject: those nearest to the main SOP
        # (a ticket as the main source: it and the similar tickets that share a tag with it)
        same = [t for t in tickets if (t["sop"] == doc.id if doc.type == "sop" else
                                       t["id"] == doc.id or t["id"] in main.get("agreeing", ()))]
        extra = self._pick_ticket_units(same, question, [units[i] for i in picked], n_tickets)
        lines, sentences, checklist, say = [], [], [], []
        last_step: int | None = None  # the step shown last
        for i in picked:
            u = units[i]
            gap = step_gap(units, last_step, i)
            if gap:
                lines.append(gap)
                checklist.append(ChecklistItem(gap, source=u.doc_id, gap=True))
            lines.append(render_unit(u))
            sentences.append(AnswerSentence(u.text, u.doc_id, u.heading, u.kind, u.number, "sop"))
            parts = split_step(u.text)
            if parts.action or parts.sub:
                checklist.append(ChecklistItem(parts.action, u.number, parts.sub, u.doc_id))
            say.extend(parts.say)
            if u.kind == "step":
                last_step = i
        for u, _ in extra:
            lines.append(plain(normalize_ws(u.text)))
            sentences.append(AnswerSentence(u.text, u.doc_id, u.heading, "sentence", None, "ticket"))
        if not lines:  # a ticket as the main source and nothing in it that can be quoted
            lines = ["No procedure covers this, and the similar past tickets only hold details of their own "
                     "cases: read them before answering."]
        ans.answer = "\n".join(lines)
        ans.sentences = sentences
        ans.checklist = checklist
        ans.say = say
        ans.abstained = False
        cited = [Citation(doc.id, doc.type, doc.title, heading, doc.status, True)]
        for s in sentences:
            if all(c.id != s.source for c in cited):
                d = self._doc(s.source)[0]
                cited.append(Citation(d.id, d.type, d.title, s.heading, d.status, True))
        for t in same:  # past tickets that back the procedure, cited without being quoted
            if len(cited) > MAX_SUPPORT or t["cos"] < SUPPORT_COS:
                break
            if all(c.id != t["id"] for c in cited):
                cited.append(Citation(t["id"], "ticket", t["title"], "Resolution", t.get("status", ""), False))
        ans.citations = cited
        for s in ans.sources:
            if s.id == doc.id:
                s.heading = heading

    def _pick_sop_units(self, doc: Document, units: list[Unit], qvec: np.ndarray) -> tuple[list[int], str]:
        """Indices of the units to quote, in document order, and the heading of the section chosen."""
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
        # a procedure numbered across sub-sections ("### Line is Processing" 4-7, "### Marketplace line" 10)
        # is one section: its best steps are chosen together, and the skipped ones shown
        runs = procedure_runs(units)
        group = [f"\x00{runs[i]}" if i in runs else u.heading for i, u in enumerate(units)]
        label: dict[str, str] = {}
        for g, u in zip(group, units, strict=True):
            label[g] = u.heading if g not in label else _common_path(label[g], u.heading)
        sec_unit: dict[str, list[float]] = {}
        sec_chunk: dict[str, float] = {}
        for g, u, c in zip(group, units, cos.tolist(), strict=True):
            sec_unit.setdefault(g, []).append(c)
            sec_chunk[g] = max(sec_chunk.get(g, -1.0), chunk_cos.get(u.heading, c))
        for g in sec_unit:
            sec_unit[g].sort(reverse=True)

        def useful(g: str) -> bool:
            return not _META_SECTION.match(label[g].rsplit(" > ", 1)[-1])

        secs = [g for g in sec_unit if useful(g)] or list(sec_unit)
        # a section's best two units and its best chunk; procedure sections first on a near tie
        score = {g: 0.5 * float(np.mean(sec_unit[g][:2])) + 0.5 * sec_chunk[g]
                 + (0.04 if _PROCEDURE.search(label[g]) or g.startswith("\x00") else 0.0) for g in secs}
        order = sorted(secs, key=lambda g: -score[g])
        chosen = [order[0]] + [g for g in order[1:2] if score[g] >= score[order[0]] - 0.03]
        pool = [i for i, g in enumerate(group) if g in chosen]
        picked = _mmr(pool, cos, vecs, int(self.config.answer_max_sentences), [len(u.text) for u in units])
        return sorted(picked, key=lambda i: units[i].start), label[order[0]]

    def _pick_ticket_units(self, tickets: list[dict], question: str, taken: list[Unit],
                           limit: int) -> list[tuple[Unit, float]]:
        """At most `limit` sentences of the two most similar tickets' resolutions: on the question,
        not what the SOP already says, and nothing specific to that ticket's case (`Unit.case`)."""
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
                if u.case:
                    continue  # a name, a number, a date, a place, a pronoun, shorthand, that case's story
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


def render_unit(u: Unit) -> str:
    """A unit as a line of the answer, Markdown marks removed: sentences on one line; steps with their
    own number, their sub-bullets kept on indented lines (every line at the margin begins a unit)."""
    if u.kind != "step":
        return plain(normalize_ws(u.text))
    first, *rest = u.text.split("\n")
    rest = [line.rstrip() if line[:1].isspace() else "   " + line.rstrip() for line in rest if line.strip()]
    lines = [f"{u.number}. {first.strip()}" if u.number is not None else first.strip(), *rest]
    return plain("\n".join(lines))


def _common_path(a: str, b: str) -> str:
    """The heading path two headings share ("T > Procedure > A", "T > Procedure > B" -> "T > Procedure")."""
    out = []
    for x, y in zip(a.split(" > "), b.split(" > "), strict=False):
        if x != y:
            break
        out.append(x)
    return " > ".join(out) or a


def procedure_runs(units: list[Unit]) -> dict[int, int]:
    """Unit index -> procedure for each numbered step: a procedure is a run of steps whose numbers
    go up, across sub-sections ("### Line is Dispatched" continues at 8); a number that does not
    go up starts another procedure."""
    runs: dict[int, int] = {}
    run, last = -1, None
    for i, u in enumerate(units):
        if u.kind != "step" or u.number is None:
            continue
        if last is None or u.number <= last:
            run += 1
        runs[i] = run
        last = u.number
    return runs


def fill_step_gaps(units: list[Unit], picked: list[int], max_chars: int = FILL_CHARS) -> list[int]:
    """`picked` (document order) with each single skipped step between two picked steps of one procedure,
    and a skipped first step, put back while the answer stays under `max_chars`: a run of steps reads
    as a procedure. Longer gaps stay (shown as "… steps n–m not shown")."""
    chosen = set(picked)
    used = sum(len(units[i].text) for i in chosen)
    runs = procedure_runs(units)
    for run in dict.fromkeys(runs[i] for i in picked if i in runs):
        steps = [i for i, r in runs.items() if r == run]
        shown = [k for k, i in enumerate(steps) if i in chosen]
        missing = [shown[0] - 1] if shown[0] == 1 else []
        missing += [a + 1 for a, b in zip(shown, shown[1:], strict=False) if b - a == 2]
        for k in missing:
            i = steps[k]
            if used + len(units[i].text) <= max_chars:
                chosen.add(i)
                used += len(units[i].text)
    return sorted(chosen, key=lambda i: units[i].start)


def step_gap(units: list[Unit], prev: int | None, i: int) -> str:
    """"… steps 3–5 not shown" when steps of unit `i`'s procedure are skipped before it (since the
    step `prev`, or since the procedure's start), else ""."""
    runs = procedure_runs(units)
    if i not in runs:
        return ""
    numbers = [units[j].number for j, r in runs.items() if r == runs[i]]
    since = units[prev].number if prev is not None and runs.get(prev) == runs[i] else None
    skipped = [n for n in numbers if (since is None or n > since) and n < units[i].number]
    if not skipped:
        return ""
    if len(skipped) == 1:
        return f"{GAP} step {skipped[0]} not shown"
    return f"{GAP} steps {skipped[0]}–{skipped[-1]} not shown"


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
