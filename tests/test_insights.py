"""Manager insights on the sample corpus plus a generated log of searches (real model, real spaCy).

Planted in a private copy of the corpus knowledge base:
- a content gap: questions about gift wrapping (no SOP covers it) asked by ten agents over eight
  weeks, which fail (abstained answers, not-helpful feedback), beside a smaller gap (staff and
  student discounts), one-off out-of-scope questions and ordinary successful searches;
- tickets about gift wrapping that no SOP covers;
- two SOPs on cycle servicing that contradict each other (24 vs 48 hours, £20 vs £50, can vs
  cannot waive), a near-duplicate of one of them, and an overdue review date.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from kb.config import load_config
from kb.insights.gaps import content_gaps, failure_reasons
from kb.insights.health import contradictions, near_duplicates, stale_sops
from kb.insights.querylog import QueryLog
from kb.insights.tickets import ticket_coverage
from tests.conftest import CORPUS

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
AGENTS = [f"agent-{n}" for n in ("amara", "ben", "chloe", "dev", "ewa", "finn", "grace", "hugo", "isla", "jay",
                                 "kofi", "lena")]

GIFT_WRAP = [
    "can you gift wrap my order", "do you offer gift wrapping", "customer wants the present wrapped before delivery",
    "is gift wrap available at checkout", "how much does gift wrapping cost", "can I add a gift message and wrapping",
    "the gift wrapping option is missing on the website", "does brightcart do gift wrap at christmas",
    "customer asking if items can be sent gift wrapped", "can we wrap the parcel as a gift and hide the price",
    "gift box and wrapping paper service", "is there a gift wrap service for birthdays",
    "send the order gift wrapped with a card", "can the item be wrapped in gift paper",
    "customer paid for gift wrapping but it arrived unwrapped", "customer wants gift wrap added after ordering",
    "wrapping service for presents", "do you wrap gifts", "gift wrap was not applied to the order",
    "can a gift be wrapped and posted straight to the recipient", "what does the gift wrap look like",
    "gift wrapping for a large item like a tv",
]
DISCOUNTS = [
    "do you offer a student discount", "is there an NHS discount", "discount for key workers",
    "blue light card discount", "student discount code through unidays", "military or veterans discount",
    "teacher discount available?", "customer asking about an nhs staff discount code",
]
ONE_OFFS = [
    "can I pay with bitcoin", "do you sell train tickets", "will it rain in manchester tomorrow",
    "recipe for banana bread in an air fryer", "does my pet insurance cover the vet bill for my dog",
    "can i get a mortgage with bad credit", "is there good 5g signal in my postcode",
    "are you hiring for christmas warehouse jobs", "what's the euro to pound exchange rate today",
    "does the new iphone support esim", "how do I descale my kettle", "whats the best way to season a cast iron pan",
    "how do I claim tax relief for working from home", "can i pay my council tax through you", "asdfgh",
]

GIFT_TICKETS = [
    ("Gift wrap for a birthday present", "Can you gift wrap the bluetooth speaker I'm sending to my nephew?",
     "Explained we don't offer gift wrapping yet; suggested adding a gift message and ticking 'hide prices'."),
    ("Paid for gift wrapping, none on arrival", "I was charged for gift wrap but the box arrived plain.",
     "Refunded the gift wrap charge to the original payment method and apologised."),
    ("Wrapping paper options", "What wrapping paper do you use for gift wrapped orders? Is it recyclable?",
     "Told the customer gift wrapping is not available; offered a gift receipt instead."),
    ("Add gift wrap after ordering", "I forgot to tick gift wrap, can you add it to my order before dispatch?",
     "Gift wrap cannot be added after ordering; added a gift message to the packing slip instead."),
    ("Christmas gift wrapping", "Do you wrap presents at Christmas? I want it sent directly to my mum wrapped.",
     "No gift wrapping service; recommended a gift message and delivery straight to the recipient."),
    ("Gift wrapped parcel with price showing", "The present was gift wrapped but the receipt with the price was "
     "inside the wrapping!", "Apologised, logged feedback for the warehouse about gift wrap packing slips."),
    ("Gift wrap on a big item", "Can you gift wrap a 55 inch TV?", "Explained gift wrapping is not possible "
     "for large items; suggested a gift message card."),
    ("Gift wrap colour", "Can I choose the colour of the gift wrap and ribbon?", "Gift wrap colours cannot be "
     "chosen; offered a gift message."),
]

CYCLE_A = """---
id: sop-cycle-servicing
title: Cycle servicing bookings
owner: Bikes Team
review_by: 2026-01-31
status: published
---
# Cycle servicing bookings

## Key rules
- Customers can cancel a service booking free of charge up to 24 hours before the appointment.
- A deposit of £20 is taken when the service booking is made.
- Agents can waive the deposit for loyalty members.

## Procedure
1. Open the booking from the Bikes tab and confirm the customer's name and postcode.
2. Check the appointment date and the bike model, and note any parts the customer mentions.
3. Confirm the booking by email and tell the customer to bring the bike clean, with the battery charged for e-bikes.
"""

CYCLE_B = """---
id: sop-bike-workshop
title: Bike workshop appointments
owner: Stores
review_by: 2027-06-30
status: published
---
# Bike workshop appointments

## Key rules
- Customers can cancel a workshop appointment free of charge up to 48 hours before the appointment.
- A deposit of £50 is taken when the workshop appointment is made.
- Agents cannot waive the deposit for loyalty members.

## Parts
Workshop parts are ordered by the store team once the mechanic has inspected the bike.
"""

CYCLE_OLD = """---
id: sop-cycle-servicing-2024
title: Cycle servicing (2024 copy)
owner: Bikes Team
review_by: 2027-06-30
status: published
---
# Cycle servicing (2024 copy)

## Procedure
1. Open the booking from the Bikes tab and confirm the customer's name and postcode.
2. Check the appointment date and the bike model, and note any parts the customer mentions.
3. Confirm the booking by e-mail and ask the customer to bring the bike clean, with the battery charged for e-bikes.
"""


def _copy_db(store, dest):
    """A private copy of a live SQLite store (the backup API is safe while it is open)."""
    store.checkpoint()
    shutil.copy(store.local_path(), dest)


@pytest.fixture(scope="module")
def kb(corpus_kb, embedder, tmp_path_factory):
    """(config, store, planted) over a private copy of the corpus KB, with planted SOPs and tickets."""
    from indexer.pipeline import index_paths
    from kb.storage import open_store

    _, corpus_store = corpus_kb
    d = tmp_path_factory.mktemp("insights_kb")
    _copy_db(corpus_store, d / "kb.db")
    config = load_config(data_dir=str(d), db=str(d / "kb.db"))
    store = open_store(config.database)
    extra = d / "extra"
    (extra / "sops").mkdir(parents=True)
    for name, text in (("a.md", CYCLE_A), ("b.md", CYCLE_B), ("old.md", CYCLE_OLD)):
        (extra / "sops" / name).write_text(text, encoding="utf-8")
    (extra / "tickets").mkdir()
    rows = [{"id": f"GW-{i}", "subject": s, "question": q, "answer": a, "tags": ["gift"],
             "created_at": (NOW - timedelta(days=3 * i + 1)).isoformat()} for i, (s, q, a) in enumerate(GIFT_TICKETS)]
    (extra / "tickets" / "gift.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    index_paths(store, embedder, config, [extra / "sops", extra / "tickets"], progress=False)
    return config, store, {"gift_tickets": {r["id"] for r in rows}}


@pytest.fixture(scope="module")
def logged(kb, embedder):
    """A generated query log: (config, store, expected) where expected names the planted gap's entries."""
    from kb.search import Searcher

    config, store, _ = kb
    searcher = Searcher(store, config, embedder)
    qlog = QueryLog(store, config)
    rng = random.Random(7)

    def when(max_days=56):
        return NOW - timedelta(days=rng.randint(0, max_days), hours=rng.randint(0, 20))

    for i, q in enumerate(GIFT_WRAP):
        agent = AGENTS[i % 10]
        qid = qlog.log_search(q, searcher.search(q, k=5), agent=agent, user_id=agent, ts=when())
        if i % 2:
            qlog.record_feedback(qid, False, user_id=agent, ts=NOW)
        else:  # then asked for a suggested answer, which abstained
            qlog.log(q, [], kind="answer", abstained=True, confidence=0.12, agent=agent, ts=when())
    for q in GIFT_WRAP[:4]:  # outside the default 90-day window
        qlog.log(q, [], kind="answer", abstained=True, agent=AGENTS[0], ts=NOW - timedelta(days=120))
    for i, q in enumerate(DISCOUNTS):
        agent = AGENTS[i % 3]
        hits = searcher.search(q, k=5)
        qid = qlog.log_search(q, hits, agent=agent, ts=when())
        qlog.record_feedback(qid, False, doc_id=hits[0].id, user_id=agent)
    for q in ONE_OFFS:
        qlog.log(q, [], kind="answer", abstained=True, agent=rng.choice(AGENTS), ts=when())
    for i, line in enumerate((CORPUS / "eval" / "queries.jsonl").read_text().splitlines()[:40]):
        q = json.loads(line)["query"]
        hits = searcher.search(q, k=5)
        qid = qlog.log_search(q, hits, agent=rng.choice(AGENTS), ts=when())
        qlog.record_click(qid, hits[0].id)
        if i % 2:
            qlog.record_feedback(qid, True, doc_id=hits[0].id)
    return config, store


# -- the query log -------------------------------------------------------------------------------
def test_a_repeated_query_is_redacted_once_and_alike(tiny_kb, monkeypatch):
    """Agents search the same things again and again: the name model runs once per distinct query
    (a bounded cache), and the stored text is the same redacted text every time."""
    import kb.insights.querylog as ql

    config, store, _ = tiny_kb
    qlog = QueryLog(store, config)
    calls = []
    real = ql.redact
    monkeypatch.setattr(ql, "redact", lambda text, *a, **kw: calls.append(text) or real(text, *a, **kw))
    q = "refund for Sarah Jones, card 4111 1111 1111 1111"
    ids = [qlog.log(q, [], agent="Amara") for _ in range(3)]
    assert len(calls) == 1
    stored = {e.id: e.query for e in qlog.entries()}
    assert len({stored[i] for i in ids}) == 1
    assert "Sarah" not in stored[ids[0]] and "4111" not in stored[ids[0]]
    monkeypatch.setattr(ql, "REDACTED_CACHE", 1)
    qlog.log("another question about delivery", [])
    qlog.log(q, [])  # pushed out of the one-entry cache: redacted again
    assert len(calls) == 3


def test_query_log_redacts_records_feedback_and_purges(tiny_kb):
    config, store, _ = tiny_kb
    qlog = QueryLog(store, config)
    qid = qlog.log("refund to card 4111 1111 1111 1111 for jane.doe@example.com, my name is Sarah Jones",
                   [{"id": "T-2", "type": "ticket", "score": 0.03, "dense_score": 0.61}], mode="hybrid",
                   agent="Amara", user_id="u1", ts="2026-11-01T10:00:00Z")
    qlog.record_click(qid, "T-2", user_id="u1")
    qlog.record_feedback(qid, False, doc_id="T-2", user_id="u1")
    qlog.record_view("sops/phone-etiquette", user_id="u1", source="search", ts="2026-11-01T10:01:00Z")
    old = qlog.log("an old question", [], agent="Ben", ts="2025-01-01T00:00:00Z")
    entries = {e.id: e for e in qlog.entries()}
    e = entries[qid]
    assert "4111" not in e.query and "example.com" not in e.query and "Sarah" not in e.query
    assert "[CARD]" in e.query and "[EMAIL]" in e.query and "[NAME]" in e.query
    assert e.top_score == pytest.approx(0.61) and e.results[0].id == "T-2" and e.who == "Amara"
    assert e.clicks == ["T-2"] and e.not_helpful == ["T-2"] and not e.helpful
    assert failure_reasons(e, 0.4) == ["not_helpful"]
    assert qlog.last_views() == {"sops/phone-etiquette": "2026-11-01T10:01:00Z"}
    out = qlog.purge(365, now="2026-11-20T00:00:00Z")
    assert out["queries"] == 1 and old not in {x.id for x in qlog.entries()} and qid in {x.id for x in qlog.entries()}
    off = QueryLog(store, config.with_overrides(querylog_enabled=False))
    assert off.log("not logged", []) is None
    from types import SimpleNamespace

    answer = SimpleNamespace(abstained=True, confidence=0.1, engine="extractive.v1",
                             sources=[SimpleNamespace(id="sops/phone-etiquette", type="sop", score=0.2)])
    aid = qlog.log_answer("can you gift wrap it", answer, agent="Amara", ts="2026-11-02T10:00:00Z")
    a = next(x for x in qlog.entries() if x.id == aid)
    assert (a.kind, a.abstained, a.mode, a.results[0].id) == ("answer", True, "extractive.v1", "sops/phone-etiquette")
    assert failure_reasons(a, 0.4) == ["abstained"]


# -- content gaps --------------------------------------------------------------------------------
def _is_gift(q: str) -> bool:
    return any(w in q for w in ("wrap", "gift box"))


def test_planted_gap_is_found_as_one_group(logged):
    config, store = logged
    report = content_gaps(store, config, now=NOW)
    threshold = report.settings["gap_score_threshold"]
    in_window = [e for e in QueryLog(store, config).entries(NOW - timedelta(days=90), NOW)]
    expected = sum(1 for e in in_window if _is_gift(e.query) and failure_reasons(e, threshold))
    gift_groups = [g for g in report.groups if any(_is_gift(q) for q in g.queries)]
    assert len(gift_groups) == 1, [(g.label, g.queries) for g in gift_groups]
    g = gift_groups[0]
    gift_entries = sum(1 for e in in_window if _is_gift(e.query) and failure_reasons(e, threshold)
                       and e.query in g.queries)
    assert gift_entries >= 0.9 * expected
    assert sum(_is_gift(q) for q in g.queries) >= 0.9 * len(g.queries), g.queries  # not mixed with other topics
    assert g.rank == 1 and g.agents >= 10  # hit by the most agents (the 10 planted ones, and any other who asked)
    assert "gift" in g.label or "wrap" in g.label
    assert all(_is_gift(r["query"]) for r in g.representative)
    assert sum(t["count"] for t in g.trend) == g.size and len(g.trend) >= 12
    assert g.closest_sop is not None and g.closest_sop.similarity < 0.7
    # the discount questions are their own group, not merged into the gift one
    disc = [x for x in report.groups if any("discount" in q for q in x.queries)]
    assert disc and disc[0] is not g and sum("discount" in q for q in disc[0].queries) >= 6
    assert report.clustering["chosen_by"] == "silhouette"
    json.dumps(report.to_dict(), default=str)
    charts = report.charts()
    for c in charts:
        ElementTree.fromstring(c.svg)
    assert charts[0].rows[0] == {"label": g.label, "agents": g.agents}


def test_gap_window_and_min_size(logged):
    config, store = logged
    wide = content_gaps(store, config, now=NOW, days=200)
    narrow = content_gaps(store, config, now=NOW)
    gw = next(g for g in wide.groups if any(_is_gift(q) for q in g.queries))
    gn = next(g for g in narrow.groups if any(_is_gift(q) for q in g.queries))
    assert gw.size == gn.size + 4
    big = content_gaps(store, config, now=NOW, min_size=gn.size)
    assert [g.label for g in big.groups] == [gn.label]


# -- ticket coverage -----------------------------------------------------------------------------
def test_uncovered_tickets_become_one_proposed_topic(kb):
    config, store, planted = kb
    report = ticket_coverage(store, config)
    gift = planted["gift_tickets"]
    groups = [g for g in report.groups if set(g.ticket_ids) & gift]
    assert len(groups) == 1, [(g.label, g.ticket_ids) for g in groups]
    g = groups[0]
    assert len(set(g.ticket_ids) & gift) >= 0.75 * len(gift)
    assert len(set(g.ticket_ids) & gift) >= 0.75 * len(g.ticket_ids)
    assert "gift" in g.label or "wrap" in g.label
    assert g.median_best_sop_similarity < report.threshold
    assert g.tickets[0]["resolution"] and g.tickets[0]["resolution"][:30] in g.draft
    assert g.draft.startswith("---\ntitle:") and "## Procedure" in g.draft
    assert report.weak < report.tickets / 2  # most sample tickets are covered by an SOP


# -- SOP health ----------------------------------------------------------------------------------
def test_overdue_and_unopened_sops(kb):
    config, store, _ = kb
    qlog = QueryLog(store, config)
    qlog.record_view("sop-refunds", ts="2026-11-10T09:00:00Z")
    qlog.record_view("sop-returns", ts="2026-05-01T09:00:00Z")
    report = stale_sops(store, config, today="2026-11-22", days=30)
    overdue = {s.id: s for s in report.overdue}
    assert "sop-cycle-servicing" in overdue and overdue["sop-cycle-servicing"].days_overdue == 295
    assert "sop-abusive-customers" in overdue  # review_by 2026-05-31 in the sample corpus
    assert "sop-refunds" not in overdue and "sop-bike-workshop" not in overdue  # review dates ahead
    unopened = {s.id: s for s in report.unopened}
    assert "sop-refunds" not in unopened
    assert unopened["sop-returns"].last_viewed == "2026-05-01T09:00:00Z"
    assert unopened["sop-cycle-servicing"].last_viewed is None
    assert report.rows()[0]["issue"] == "overdue review"


def test_planted_near_duplicate_is_found(kb):
    config, store, _ = kb
    report = near_duplicates(store, config)
    pairs = {frozenset((p.a.doc_id, p.b.doc_id)) for p in report.pairs}
    assert frozenset(("sop-cycle-servicing", "sop-cycle-servicing-2024")) in pairs
    planted = {"sop-cycle-servicing", "sop-cycle-servicing-2024", "sop-bike-workshop"}
    assert all({p.a.doc_id, p.b.doc_id} <= planted for p in report.pairs), pairs  # the sample has none
    p = next(p for p in report.pairs if {p.a.doc_id, p.b.doc_id} == {"sop-cycle-servicing",
                                                                     "sop-cycle-servicing-2024"})
    assert "Procedure" in p.a.heading and "Bikes tab" in p.a.text and "Bikes tab" in p.b.text


def test_planted_contradiction_is_found(kb, embedder):
    config, store, _ = kb
    report = contradictions(store, config, embedder=embedder)
    between = [c for c in report.items if {c.a.doc_id, c.b.doc_id} in ({"sop-cycle-servicing", "sop-bike-workshop"},
                                                                       {"sop-cycle-servicing-2024", "sop-bike-workshop"})]
    found = {(d.kind, d.what, frozenset((d.a, d.b))) for c in between for d in c.differences}
    assert ("quantity", "duration", frozenset(("24 hours", "48 hours"))) in found, found
    assert ("quantity", "money", frozenset(("£20", "£50"))) in found, found
    assert any(kind == "polarity" and what == "waive" for kind, what, _ in found), found
    others = [c for c in report.items if "sop-bike-workshop" not in (c.a.doc_id, c.b.doc_id)]
    assert len(others) <= 3, [(c.a.doc_id, c.b.doc_id, c.summary) for c in others]


# -- the command line ----------------------------------------------------------------------------
def test_report_cli_json_and_csv(logged, tmp_path):
    from kb.cli import cli

    config, store = logged
    db = str(config.database)
    run = CliRunner().invoke
    res = run(cli, ["report", "gaps", "--db", db, "--json", "--as-of", NOW.isoformat()], catch_exceptions=False)
    data = json.loads(res.stdout)
    assert data["groups"][0]["agents"] >= 10 and data["logged"] == 96
    out = tmp_path / "gaps.csv"
    res = run(cli, ["report", "gaps", "--db", db, "--as-of", NOW.isoformat(), "--csv", str(out)],
              catch_exceptions=False)
    assert res.exit_code == 0 and "agents" in res.output
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["agents"] == str(data["groups"][0]["agents"]) and "closest_sop" in rows[0] and len(rows) == len(data["groups"])
    res = run(cli, ["report", "stale", "--db", db, "--today", "2026-11-22", "--csv", "-"], catch_exceptions=False)
    stale = list(csv.DictReader(io.StringIO(res.stdout)))
    assert any(r["id"] == "sop-cycle-servicing" and r["issue"] == "overdue review" for r in stale)
    res = run(cli, ["report", "duplicates", "--db", db, "--json"], catch_exceptions=False)
    assert json.loads(res.stdout)["pairs"]
    res = run(cli, ["report", "contradictions", "--db", db, "--json", "--threshold", "0.65"], catch_exceptions=False)
    assert any("£20" in item["summary"] for item in json.loads(res.stdout)["items"])
    res = run(cli, ["report", "tickets", "--db", db, "--csv", "-"], catch_exceptions=False)
    assert next(csv.DictReader(io.StringIO(res.stdout)))["tickets"]
    res = run(cli, ["report", "purge", "--db", db, "--days", "100000", "--json"], catch_exceptions=False)
    assert json.loads(res.stdout)["queries"] == 0
