"""SOP health: overdue reviews, SOPs nobody opens, near-duplicate sections, possible contradictions.

- `stale_sops`: SOPs whose `review_by` date has passed, and SOPs not opened in the last
  `stale_days` days (from the view log, `QueryLog.record_view`).
- `near_duplicates`: pairs of sections (chunks) of two different SOPs whose embeddings have a
  cosine similarity of at least `near_duplicate_threshold`, side by side.
- `contradictions`: pairs of sections of two different SOPs at least `contradiction_similarity`
  alike; inside them, pairs of sentences at least `contradiction_sentence_similarity` alike that
  differ in a quantity (money, durations, percentages, times, counts: "14 days" vs "30 days",
  "£20" vs "£50") or in polarity ("can" vs "cannot", "must" vs "must not"), read with spaCy
  (`kb.insights.quantities`). Listed for a human to decide: a difference can be deliberate.

Archived SOPs are left out of the duplicate and contradiction checks.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from kb.insights.charts import Chart, bar_chart
from kb.insights.gaps import SopVectors
from kb.insights.quantities import WORD_NUMBERS, Difference, compare, facts
from kb.insights.querylog import QueryLog, iso, parse_ts
from kb.scales import cosine_setting, store_model
from kb.text import content_terms, stem


# -- stale ---------------------------------------------------------------------------------------
@dataclass
class StaleSop:
    id: str
    title: str
    owner: str
    status: str
    review_by: str
    days_overdue: int | None = None
    last_viewed: str | None = None  # None: never opened (since views are recorded)
    days_since_view: int | None = None


@dataclass
class StaleReport:
    today: str
    stale_days: int
    overdue: list[StaleSop]
    unopened: list[StaleSop]
    sops: int
    views_recorded: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        return ([{"issue": "overdue review", **asdict(s)} for s in self.overdue]
                + [{"issue": f"not opened in {self.stale_days} days", **asdict(s)} for s in self.unopened])

    def charts(self) -> list[Chart]:
        return [bar_chart([(s.id, s.days_overdue or 0) for s in self.overdue], title="Overdue SOP reviews",
                          value_label="days overdue", top_n=20)]


def _as_date(value: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def stale_sops(store, config, *, days: int | None = None, today: date | str | None = None) -> StaleReport:
    """Overdue reviews and SOPs not opened in `days` (default `stale_days`) days."""
    if isinstance(today, str):
        today = date.fromisoformat(today[:10])
    today = today or datetime.now(UTC).date()
    n = int(config.stale_days if days is None else days)
    qlog = QueryLog(store, config)
    sops = [d for d in store.list_documents("sop") if d.status.lower() != "archived"]
    overdue, unopened, notes = [], [], []
    bad_dates = []
    for d in sops:
        rb = _as_date(d.review_by)
        if d.review_by and rb is None:
            bad_dates.append(d.id)
        if rb is not None and rb < today:
            overdue.append(StaleSop(d.id, d.title, d.owner, d.status, d.review_by, days_overdue=(today - rb).days))
    overdue.sort(key=lambda s: (-(s.days_overdue or 0), s.id))
    views = qlog.view_count()
    last = qlog.last_views(d.id for d in sops)
    cutoff = iso(datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1) - timedelta(days=n))
    for d in sops:
        seen = last.get(d.id)
        if seen is None or seen < cutoff:
            since = None if seen is None else (today - parse_ts(seen).date()).days
            unopened.append(StaleSop(d.id, d.title, d.owner, d.status, d.review_by, last_viewed=seen,
                                     days_since_view=since))
    unopened.sort(key=lambda s: (s.last_viewed is not None, s.last_viewed or "", s.id))
    if not views:
        notes.append("No SOP views are recorded at all, so every SOP is listed as not opened: the pages that "
                     "show an SOP should call QueryLog.record_view.")
    if bad_dates:
        notes.append(f"review_by is not a date (YYYY-MM-DD) in: {', '.join(bad_dates)}")
    return StaleReport(today.isoformat(), n, overdue, unopened, len(sops), views, notes)


# -- pairs of similar sections --------------------------------------------------------------------
@dataclass
class SectionRef:
    doc_id: str
    title: str
    heading: str
    text: str
    chunk_id: int


@dataclass
class DuplicatePair:
    a: SectionRef
    b: SectionRef
    similarity: float


@dataclass
class DuplicateReport:
    threshold: float
    sections: int
    pairs: list[DuplicatePair]
    documents: list[dict[str, Any]]  # per pair of SOPs: a, b, sections, max_similarity

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        return [{"similarity": p.similarity, "a": p.a.doc_id, "a_heading": p.a.heading, "a_text": p.a.text,
                 "b": p.b.doc_id, "b_heading": p.b.heading, "b_text": p.b.text} for p in self.pairs]


def similar_pairs(sops: SopVectors, threshold: float, *, min_chars: int = 30,
                  block: int = 2048) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for sections of different SOPs with similarity >= threshold, best first."""
    X = sops.X
    n = len(X)
    doc = np.array(sops.doc)
    ok = np.array([len(t.strip()) >= min_chars for t in sops.text], dtype=bool)
    out: list[tuple[int, int, float]] = []
    for s in range(0, n, block):
        S = X[s:s + block] @ X.T
        rows, cols = np.where(S >= threshold)
        for r, c in zip(rows, cols, strict=True):
            i = s + int(r)
            j = int(c)
            if j <= i or doc[i] == doc[j] or not (ok[i] and ok[j]):
                continue
            out.append((i, j, float(S[r, c])))
    out.sort(key=lambda t: -t[2])
    return out


def _ref(sops: SopVectors, i: int) -> SectionRef:
    return SectionRef(sops.doc[i], sops.title[i], sops.heading[i], sops.text[i], int(sops.ids[i]))


def near_duplicates(store, config, *, threshold: float | None = None) -> DuplicateReport:
    """Sections of two different SOPs that say nearly the same thing."""
    t = (cosine_setting(config, "near_duplicate_threshold", store_model(store)) if threshold is None
         else float(threshold))
    sops = SopVectors(store, include_archived=False)
    pairs = [DuplicatePair(_ref(sops, i), _ref(sops, j), round(s, 4)) for i, j, s in similar_pairs(sops, t)]
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for p in pairs:
        key = tuple(sorted((p.a.doc_id, p.b.doc_id)))
        d = docs.setdefault(key, {"a": key[0], "b": key[1], "sections": 0, "max_similarity": 0.0})
        d["sections"] += 1
        d["max_similarity"] = max(d["max_similarity"], p.similarity)
    documents = sorted(docs.values(), key=lambda d: (-d["sections"], -d["max_similarity"]))
    return DuplicateReport(t, len(sops), pairs, documents)


# -- contradictions ------------------------------------------------------------------------------
@dataclass
class Contradiction:
    a: SectionRef
    b: SectionRef
    section_similarity: float
    sentence_a: str
    sentence_b: str
    sentence_similarity: float
    differences: list[Difference]

    @property
    def summary(self) -> str:
        return "; ".join(f"{d.what}: {d.a} vs {d.b}" for d in self.differences)


@dataclass
class ContradictionReport:
    section_threshold: float
    sentence_threshold: float
    candidate_sections: int
    items: list[Contradiction]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for d, c in zip(out["items"], self.items, strict=True):
            d["summary"] = c.summary
        return out

    def rows(self) -> list[dict[str, Any]]:
        return [{"a": c.a.doc_id, "a_heading": c.a.heading, "a_sentence": c.sentence_a, "b": c.b.doc_id,
                 "b_heading": c.b.heading, "b_sentence": c.sentence_b, "differences": c.summary,
                 "section_similarity": c.section_similarity, "sentence_similarity": c.sentence_similarity}
                for c in self.items]


_MD = re.compile(r"\*\*|__|`|^\s{0,3}(?:[-*+•]|\d{1,3}[.)])\s+|^#+\s+", re.M)
# A sentence can only disagree on an amount or a yes/no rule if it has a number or a negation
_SIGNAL = re.compile(r"\d|\b(?:not|no|never|cannot|can't|don't|won't|mustn't|free|" + "|".join(
    w for w in WORD_NUMBERS if len(w) > 2) + r")\b|n't\b", re.I)
MIN_SHARED_WORDS = 2  # sentences compared must share at least this many content words (stems)
STRONG_SIMILARITY = 0.85  # sentences this alike are compared on every amount, not only those tied to the same word


def section_sentences(text: str, nlp) -> list[str]:
    """The sentences of a section; each Markdown line (list item, step) is split on its own."""
    lines = [_MD.sub("", line).strip() for line in text.split("\n")]
    lines = [line for line in lines if len(line) > 3]
    out = []
    for doc in nlp.pipe(lines, batch_size=64):
        out.extend(s.text.strip() for s in doc.sents if len(s.text.strip()) > 3)
    return out


def contradictions(store, config, *, embedder=None, section_threshold: float | None = None,
                   sentence_threshold: float | None = None) -> ContradictionReport:
    """Similar sentences of similar sections of two SOPs that disagree on a quantity or a yes/no rule."""
    from kb.text import load_spacy

    model = store_model(store)
    ts = cosine_setting(config, "contradiction_similarity", model) if section_threshold is None else \
        float(section_threshold)
    tt = cosine_setting(config, "contradiction_sentence_similarity", model) if sentence_threshold is None else \
        float(sentence_threshold)
    sops = SopVectors(store, include_archived=False)
    pairs = similar_pairs(sops, ts)
    if not pairs:
        return ContradictionReport(ts, tt, 0, [])
    splitter = load_spacy(config.spacy_model)  # sentences only: fast
    nlp = load_spacy(config.spacy_model, full=True)  # parser for amounts and negation: only where needed
    if embedder is None:
        from kb.embed import get_embedder

        embedder = get_embedder(config)
    needed = sorted({i for i, j, _ in pairs} | {j for i, j, _ in pairs})
    sents = {i: section_sentences(sops.text[i], splitter) for i in needed}
    all_texts = list(dict.fromkeys(x for i in needed for x in sents[i]))
    signal = {t: bool(_SIGNAL.search(t)) for t in all_texts}
    stems = {t: {stem(w) for w in content_terms(t) if not w.isdigit()} for t in all_texts}
    # only sentence pairs that share words and could disagree (a number or a negation) are embedded
    cand: list[tuple[int, int, float, str, str]] = []
    for i, j, sim in pairs:
        for sa in sents[i]:
            for sb in sents[j]:
                if sa != sb and (signal[sa] or signal[sb]) and len(stems[sa] & stems[sb]) >= MIN_SHARED_WORDS:
                    cand.append((i, j, sim, sa, sb))
    texts = list(dict.fromkeys(x for *_, sa, sb in cand for x in (sa, sb)))
    vec = dict(zip(texts, embedder.encode_documents(texts), strict=True)) if texts else {}
    aligned = [(i, j, sim, sa, sb, float(vec[sa] @ vec[sb])) for i, j, sim, sa, sb in cand]
    aligned = [a for a in aligned if a[5] >= tt]
    parsed = list(dict.fromkeys(x for _, _, _, sa, sb, _ in aligned for x in (sa, sb)))
    fact = {t: facts(doc) for t, doc in zip(parsed, nlp.pipe(parsed, batch_size=64), strict=True)}
    items: list[Contradiction] = []
    seen: set[frozenset[str]] = set()
    for i, j, sim, sa, sb, ss in aligned:
        key = frozenset((sa, sb))
        if key in seen:
            continue
        diffs = compare(fact[sa], fact[sb], strong=ss >= STRONG_SIMILARITY)
        if diffs:
            seen.add(key)
            items.append(Contradiction(_ref(sops, i), _ref(sops, j), round(sim, 4), sa, sb, round(ss, 4), diffs))
    items.sort(key=lambda c: (-c.sentence_similarity, -c.section_similarity))
    return ContradictionReport(ts, tt, len(pairs), items)
