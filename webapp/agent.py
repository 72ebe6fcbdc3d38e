"""Agent pages: search (as you type, with the suggested answer beside it), documents opened at the
matched passage, and live assist. Signed-in users of every role may use them.

The page's JavaScript calls the JSON API (webapp/api.py) with the session and a CSRF header; the
search page also renders results on the server (`/?q=...`), so it works without JavaScript.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import format_percent
from flask_babel import gettext as _
from flask_login import current_user

from kb.answers import percent_ceil, percent_floor, plain
from kb.errors import InputError
from kb.models import sop_status_filter
from kb.search import MAX_QUERY_CHARS, MODES
from webapp.apispec import int_arg
from webapp.auth import guard_blueprint
from webapp.render import highlight_text, offsets_to_lines, render_markdown, snippet_html
from webapp.services import services
from webapp.sops import is_overdue

bp = Blueprint("agent", __name__)
_HEADING_MARK = re.compile(r"(?:^|(?<=\s))#{1,6}(?=\s)")
TICKET_TAG_MIN = 3  # a ticket tag is offered in the tag filter once this many tickets carry it
TICKET_TAGS_SHOWN = 25
guard_blueprint(bp, "agent")


# -- shared with the API ------------------------------------------------------------------------
def who() -> dict[str, str]:
    return {"user_id": str(current_user.id), "agent": current_user.username}


# The quoting of werkzeug's path converter and of its query strings: a search's ten result links are
# built from one url_for per request (url_for for each took 4% of a loaded server's time under the GIL).
# tests/test_web_agent.py checks the two give the same links.
_PATH_SAFE = "!$&'()*+,/:;=@"
_QUERY_SAFE = "!$'()*,/:;?@"


def doc_url(doc_id: str, *, chunk: int | None = None, q: str = "", qid: int | None = None) -> str:
    base = g.get("doc_url_base")
    if base is None:  # the document page's address with this request's script root
        base = g.doc_url_base = url_for("agent.document", doc_id="x")[:-1]
    args: list[tuple[str, Any]] = []
    if chunk is not None:
        args.append(("chunk", chunk))
    if q:
        args.append(("q", q))
    if qid is not None:
        args.append(("qid", qid))
    query = "?" + urlencode(args, safe=_QUERY_SAFE) if args else ""
    return base + quote(str(doc_id), safe=_PATH_SAFE) + query + ("#match" if chunk is not None else "")


def check_question(q: str) -> str:
    """The question as typed, or one clear error when it is longer than search and answers read."""
    q = (q or "").strip()
    if len(q) > MAX_QUERY_CHARS:
        raise InputError(f"The question is {len(q):,} characters long; search and answers read at most "
                         f"{MAX_QUERY_CHARS:,}", hint="describe the problem in a sentence or two, or paste only the "
                         "customer's question", field="q")
    return q


def _plain_snippet(snippet: str) -> str:
    """A snippet (escaped text with <mark>) with Markdown emphasis and heading marks removed."""
    return _HEADING_MARK.sub(" ", plain(snippet)).strip()


def run_search(q: str, *, k: int | None = None, mode: str = "hybrid", types=(), tags=(), statuses=(),
               log: bool = True) -> dict[str, Any]:
    """Search as agents do: `statuses` are the SOP statuses asked for (`published`, `draft`,
    `archived`, `all`); none means published SOPs only. Past tickets are always searched."""
    svc = services()
    q = check_question(q)
    sop_statuses = sop_status_filter(statuses)
    t0 = time.perf_counter()
    k = int(k or svc.config.search_k)
    with svc.cpu_slot():  # the CPU-bound part of a search: as many at once as there are cores
        found = svc.find(q, k=k, mode=mode, types=tuple(types), tags=tuple(tags), sop_statuses=sop_statuses)
        hits = found["results"]
        latency = round((time.perf_counter() - t0) * 1000, 2)
        langs = found.get("languages") or []
        qid = svc.log_call("log_search", q, hits, mode=mode, language=langs[0] if len(langs) == 1 else None,
                           **who()) if log else None
    results = []
    for h in hits:
        h = {k2: v for k2, v in h.items() if k2 not in ("lexical_rank", "dense_rank")}
        h["snippet"] = _plain_snippet(h["snippet"])
        h["url"] = doc_url(h["id"], chunk=h.get("chunk_id"), q=q, qid=qid)
        results.append(h)
    return {"query": q, "mode": mode, "query_id": qid, "results": results, "latency_ms": latency,
            "statuses": list(sop_statuses), "weak_match": found["weak_match"], "best_score": found["best_score"]}


def heading_chunk(doc_id: str, heading: str) -> int | None:
    """The first chunk of a document under `heading` (a citation opens the document there)."""
    if not heading:
        return None
    chunks = services().store.get_chunks(doc_id)
    for ch in chunks:
        if ch.heading == heading:
            return ch.id
    for ch in chunks:  # a procedure's heading: its first sub-section
        if ch.heading.startswith(heading + " > "):
            return ch.id
    return None


def _confidence_label(confidence: float, threshold: float | None, *, abstained: bool) -> str:
    """kb.answers.confidence_label in the page's language (rounded the same way: the confidence down,
    the threshold up, so that they never contradict each other)."""
    label = _("Confidence %(percent)s", percent=format_percent(percent_floor(confidence) / 100))
    if abstained and threshold is not None:
        label = _("%(confidence)s, below the %(threshold)s needed for an answer", confidence=label,
                  threshold=format_percent(percent_ceil(threshold) / 100))
    return label


def answer_dict(ans, query_id: int | None = None, *, threshold: float | None = None) -> dict[str, Any]:
    """The API's Answer: the engine's answer with links, the words to read out (`say_text`, what
    "Copy answer" copies) and a confidence label that never contradicts the threshold. `threshold`
    is the one the answer was given at (live assist: assist_threshold); an answer below
    answer_threshold is `tentative` and its label says so."""
    d = ans.summary_dict()
    answer_threshold = float(services().config.answer_threshold)
    threshold = answer_threshold if threshold is None else float(threshold)
    for c in d["citations"]:
        c["url"] = doc_url(c["id"], chunk=heading_chunk(c["id"], c.get("heading", "")), qid=query_id)
    for s in d["sources"]:
        s["url"] = doc_url(s["id"], qid=query_id)
    d["answer_plain"] = plain(d["answer"])
    d["say_text"] = "\n\n".join(d["say"])
    d["ticket_quotes"] = [{"id": s.source, "text": plain(s.text), "url": doc_url(s.source, qid=query_id)}
                          for s in ans.sentences if s.source_type == "ticket"]
    d["confidence_label"] = _confidence_label(ans.confidence, threshold, abstained=ans.abstained)
    d["tentative"] = not ans.abstained and ans.confidence < answer_threshold
    if d["tentative"]:
        d["confidence_label"] = _("%(confidence)s, below the %(threshold)s of a suggested answer: check that it "
                                  "fits the call", confidence=d["confidence_label"],
                                  threshold=format_percent(percent_ceil(answer_threshold) / 100))
    d.update(query_id=query_id, latency_ms=ans.latency_ms, engine=ans.engine, threshold=threshold,
             statuses=list(ans.statuses))
    return d


def run_answer(question: str, *, log: bool = True, statuses=()) -> dict[str, Any]:
    """A suggested answer as agents get it: from published SOPs unless `statuses` asks otherwise."""
    svc = services()
    question = check_question(question)
    ans = svc.answerer.answer(question, statuses=sop_status_filter(statuses))
    qid = svc.log_call("log_answer", question, ans, **who()) if log else None
    return answer_dict(ans, qid)


def document_data(doc_id: str, chunk_id: int | None = None) -> dict[str, Any]:
    """A document with the passage a search matched (chunk offsets into the body) and its steps."""
    from kb.structure import procedure_steps

    svc = services()
    doc = svc.store.get_document(doc_id)
    passage = None
    if chunk_id is not None:
        ch = svc.store.get_chunks_by_ids([chunk_id]).get(chunk_id)
        if ch is not None and ch.doc_id == doc.id:
            passage = {"chunk_id": ch.id, "heading": ch.heading, "start": ch.start, "end": ch.end,
                       "text": doc.body[ch.start:ch.end] if ch.end > ch.start else ch.text}
    steps = []
    if doc.type == "sop":
        steps = [{"number": s.number, "text": s.text, "heading": s.heading} for s in procedure_steps(doc)]
    d = doc.to_dict()
    d.update(passage=passage, steps=steps, overdue=is_overdue(doc.review_by) if doc.type == "sop" else False)
    d.pop("source_path", None)
    return d


# -- pages ---------------------------------------------------------------------------------------
def tag_choices(store) -> list[str]:
    """The tag filter's choices: every SOP tag, then ticket tags used at least TICKET_TAG_MIN times
    (most used first, at most TICKET_TAGS_SHOWN), not every one-off label a ticket once got."""
    counts = dict(store.all_tags())
    sop_counts: dict[str, int] = {}
    for d in store.list_documents("sop"):
        for t in {t.lower() for t in d.tags}:
            sop_counts[t] = sop_counts.get(t, 0) + 1
    tickets = sorted(((t, n - sop_counts.get(t, 0)) for t, n in counts.items() if t not in sop_counts),
                     key=lambda tn: (-tn[1], tn[0]))
    return sorted(sop_counts) + [t for t, n in tickets if n >= TICKET_TAG_MIN][:TICKET_TAGS_SHOWN]


def sees_all_statuses() -> bool:
    """Managers and admins may search drafts and archived SOPs from the search page (with a badge)."""
    return current_user.role in ("manager", "admin")


@bp.route("/")
def search_page():
    svc = services()
    q = (request.args.get("q") or "").strip()
    types = [t for t in request.args.getlist("type") if t in ("sop", "ticket")]
    tags = [t for t in request.args.getlist("tag") if t]
    mode = request.args.get("mode") if request.args.get("mode") in MODES else "hybrid"
    status = request.args.get("status", "") if sees_all_statuses() else ""
    statuses = [status] if status else []
    results, answer, error = None, None, None
    if q:
        try:
            results = run_search(q, mode=mode, types=types, tags=tags, statuses=statuses)
            answer = run_answer(q, statuses=statuses)
        except InputError as exc:
            error = exc
    return render_template("agent/search.html", q=q, types=types, tags=tags, mode=mode, results=results,
                           answer=answer, error=error, all_tags=tag_choices(svc.store), snippet_html=snippet_html,
                           counts=svc.store.count_documents(), status=status, status_choices=sees_all_statuses(),
                           max_chars=MAX_QUERY_CHARS)


@bp.route("/doc/<path:doc_id>")
def document(doc_id: str):
    svc = services()
    chunk = int_arg(request.args, "chunk")
    q = request.args.get("q", "")
    qid = int_arg(request.args, "qid")
    data = document_data(doc_id, chunk)
    if qid is not None:  # a purged or unknown query id is logged and skipped: the page still opens
        svc.log_call("record_click", qid, doc_id, user_id=str(current_user.id))
    svc.log_call("record_view", doc_id, user_id=str(current_user.id), source="search" if qid else "direct")
    passage = data["passage"]
    body = data["body"]
    if data["type"] == "sop":
        lines = offsets_to_lines(body, passage["start"], passage["end"]) if passage else None
        html = render_markdown(body, mark_lines=lines)
    else:
        spans = [(passage["start"], passage["end"], "match")] if passage and passage["end"] > passage["start"] else []
        html = highlight_text(body, spans)
    return render_template("agent/document.html", doc=data, html=html, passage=passage, q=q, qid=qid)


@bp.route("/assist")
def assist_new():
    conv = services().conversations.create(current_user.user)
    return redirect(url_for("agent.assist_page", conversation_id=conv.id))


@bp.route("/assist/<conversation_id>")
def assist_page(conversation_id: str):
    svc = services()
    conv = svc.conversations.get_or_create(conversation_id, current_user.user)
    recent = [c for c in svc.conversations.recent(current_user.user, 15) if c.id != conv.id]
    return render_template("agent/assist.html", conv=conv, recent=recent)


def assist_update(conv) -> dict[str, Any]:
    """Run live assist over the conversation's turns at its revision and keep the suggestion
    (unless another server already kept one for a newer revision)."""
    svc = services()
    result = svc.assistant.update(conv.turns, conv.state)
    state = result.state.to_dict()
    qid = svc.log_call("log_answer", result.need, result.answer, kind="assist", **who())
    sug = {"need": result.need, "topic": result.topic, "topic_changed": result.topic_changed,
           "sops": [{**asdict(s), "url": doc_url(s.id, qid=qid)} for s in result.sops],
           "answer": answer_dict(result.answer, qid, threshold=svc.config.assist_threshold), "state": state}
    svc.store.save_suggestion(conv.id, conv.revision, state, sug)
    return sug


def normalize_turns(raw: list[dict[str, Any]]) -> list[dict[str, str]]:
    from kb.assist import normalize_turns as _norm

    return [{"speaker": t.speaker, "text": t.text} for t in _norm(raw)]


def turns_from_text(text: str) -> list[dict[str, str]]:
    """Pasted or typed text: 'Speaker: text' lines; a line without a speaker is the customer's."""
    from kb.assist import parse_transcript

    text = (text or "").strip()
    if not text:
        raise InputError("Nothing to add", hint="type what was said, or paste 'Customer: ...' lines", field="text")
    try:
        turns = parse_transcript(text)
    except InputError:
        turns = parse_transcript("Customer: " + text)
    return [{"speaker": t.speaker, "text": t.text} for t in turns]
