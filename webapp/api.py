"""The JSON API under /api/v1: search, answers, live assist, feedback, documents, SOP writes,
uploads and jobs (QA routes are in webapp/api_qa.py). Every route is declared through
`webapp.apispec.Api`, which checks the role, validates the input and documents the route in
/api/v1/openapi.json.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, g, jsonify, request
from flask_login import current_user

from kb.errors import NotFoundError
from kb.models import STATUS_CHOICES
from kb.search import MODES
from webapp import agent
from webapp.apispec import Api, Param
from webapp.render import diff_stats, render_markdown, side_by_side, unified
from webapp.schemas import SCHEMAS, array, ref
from webapp.services import services
from webapp.sops import (
    SopForm,
    create_sop,
    get_sop,
    mark_reviewed,
    publish_sop,
    restore_version,
    save_sop,
    sop_summary,
)
from webapp.uploads import start_upload

PREFIX = "/api/v1"
EVERYONE = ("agent", "analyst", "manager")  # + admin, who may do everything
MANAGERS = ("manager",)
bp = Blueprint("api", __name__, url_prefix=PREFIX)
api = Api(bp, title="Deskbook API", version="1", schemas=SCHEMAS)


def created(data, status: int = 201):
    resp = jsonify(data)
    resp.status_code = status
    return resp


# -- meta ----------------------------------------------------------------------------------------
@api.route("/openapi.json", summary="This document: the API described as OpenAPI 3", roles=None, tag="meta",
           response={"type": "object"})
def openapi():
    return jsonify(api.openapi(PREFIX))


@api.route("/me", summary="The signed-in user (or the token's owner)", roles=EVERYONE, tag="meta",
           response=ref("User"))
def me():
    return jsonify(current_user.user.to_dict())


# -- agents --------------------------------------------------------------------------------------
@api.route("/search", summary="Search SOPs and past tickets", roles=EVERYONE, tag="agent",
           params=[Param("q", required=True, help="the query; \"quoted phrases\" must match exactly"),
                   Param("k", "integer", minimum=1, maximum=100, help="number of results (default: search_k)"),
                   Param("mode", enum=MODES, default="hybrid"),
                   Param("type", enum=("sop", "ticket"), many=True, help="only these document types"),
                   Param("tag", many=True, help="only documents with all these tags"),
                   Param("status", many=True, enum=STATUS_CHOICES,
                         help="SOPs with one of these statuses; 'all' for every status (default: published only, "
                              "as agents see them; past tickets are always searched)"),
                   Param("log", "boolean", default=True,
                         help="log the query for the manager reports (the search page sends false while typing)")],
           response=ref("SearchResults"))
def search():
    p = g.params
    return jsonify(agent.run_search(p["q"], k=p["k"], mode=p["mode"], types=p["type"], tags=p["tag"],
                                    statuses=p["status"], log=p["log"]))


@api.route("/answer", "POST", summary="A suggested answer, with confidence and citations, or an abstention",
           roles=EVERYONE, tag="agent", body=ref("AnswerRequest"), response=ref("Answer"))
def answer():
    return jsonify(agent.run_answer(g.body["question"], log=g.body.get("log", True),
                                    statuses=g.body.get("status") or ()))


@api.route("/assist", "POST", summary="Live assist for a whole conversation (stateless: send back `state`)",
           roles=EVERYONE, tag="agent", body=ref("AssistRequest"), response=ref("AssistResult"))
def assist():
    result = services().assistant.update(g.body["turns"], g.body.get("state"))
    d = result.to_dict()
    d["answer"] = agent.answer_dict(result.answer, threshold=services().config.assist_threshold)
    return jsonify(d)


@api.route("/assist/conversations", "POST", summary="Start a live-assist conversation (optionally with your own id)",
           roles=EVERYONE, tag="assist", body=ref("NewConversation"), response=ref("Conversation"), status=201)
def conversation_create():
    conv = services().conversations.create(current_user.user, g.body.get("id"), owner=g.body.get("owner"))
    return created(conv.to_dict())


@api.route("/assist/conversations", summary="Your recent live-assist conversations (an admin's: everyone's)",
           roles=EVERYONE, tag="assist", response=array(ref("Conversation")))
def conversation_list():
    return jsonify([c.to_dict() for c in services().conversations.recent(current_user.user, 50)])


@api.route("/assist/conversations/<conversation_id>", summary="A conversation and its latest suggestions "
           "(yours, or any for an admin)", roles=EVERYONE, tag="assist", response=ref("Conversation"), errors=(404,),
           params=[Param("since", "integer", minimum=0, maximum=2 ** 31,
                         help="answer 304-style {\"changed\": false} when the revision is not newer")])
def conversation_get(conversation_id: str):
    conv = services().conversations.get(conversation_id, current_user.user)
    since = g.params["since"]
    if since is not None and conv.revision <= since:
        return jsonify({"id": conv.id, "revision": conv.revision, "changed": False})
    return jsonify(conv.to_dict() | {"changed": True})


@api.route("/assist/conversations/<conversation_id>/turns", "POST",
           summary="Add turns (from speech-to-text, a chat, or the agent) and get updated suggestions",
           roles=EVERYONE, tag="assist", body=ref("TurnsRequest"), response=ref("Conversation"), errors=(404,),
           description="Creates the conversation when the id is new, so a telephony or chat system can push the "
                       "turns of a call under the call's own id (with an admin's token and `owner`: the agent's "
                       "user name). Turns are redacted before they are stored. Someone else's conversation is a 404.")
def conversation_turns(conversation_id: str):
    svc = services()
    user = current_user.user
    # The turns are read first: a body they are wrong in must not create the conversation.
    turns = agent.normalize_turns(g.body["turns"]) if g.body.get("turns") else agent.turns_from_text(
        g.body.get("text", ""))
    svc.conversations.get_or_create(conversation_id, user, owner=g.body.get("owner"))
    conv = svc.conversations.add_turns(conversation_id, turns, user)
    if conv.turns:
        agent.assist_update(conv)
    return jsonify(svc.conversations.get(conversation_id, user).to_dict())


@api.route("/feedback", "POST", summary="Helpful / not helpful, on the answer or on one result of a logged query",
           roles=EVERYONE, tag="agent", body=ref("Feedback"), response=ref("Ok"), errors=(404,))
def feedback():
    svc = services()
    if svc.querylog is None:  # pragma: no cover - kb.insights.querylog ships with Deskbook
        raise NotFoundError("Feedback is not recorded: the query log is not available")
    svc.log_call("record_feedback", g.body["query_id"], bool(g.body["helpful"]), doc_id=g.body.get("doc_id") or "",
                 user_id=str(current_user.id), strict=True)
    return jsonify({"ok": True})


@api.route("/tags", summary="Tags in use, most used first", roles=EVERYONE, tag="documents", response=array(ref("Tag")))
def tags():
    return jsonify([{"tag": t, "count": n} for t, n in services().store.all_tags()])


@api.route("/documents", summary="List documents (SOPs with review status)", roles=EVERYONE, tag="documents",
           params=[Param("type", enum=("sop", "ticket"), default="sop"),
                   Param("status", enum=("draft", "published", "archived")), Param("tag"),
                   Param("overdue", "boolean", help="only SOPs whose review-by date has passed")],
           response=array(ref("DocumentSummary")))
def documents():
    p = g.params
    today = date.today()
    rows = [sop_summary(d, today) | {"type": d.type} for d in services().store.list_documents(p["type"])]
    if p["status"]:
        rows = [r for r in rows if r["status"] == p["status"]]
    if p["tag"]:
        rows = [r for r in rows if p["tag"] in r["tags"]]
    if p["overdue"] is not None:
        rows = [r for r in rows if r["overdue"] == p["overdue"]]
    return jsonify(rows)


@api.route("/documents/<path:doc_id>", summary="One document, with the matched passage when `chunk` is given",
           roles=EVERYONE, tag="documents", errors=(404,), response=ref("Document"),
           params=[Param("chunk", "integer", help="a search hit's chunk_id: its passage is returned"),
                   Param("query_id", "integer", help="the logged query this was opened from (records a click)")])
def document(doc_id: str):
    data = agent.document_data(doc_id, g.params["chunk"])
    if g.params["query_id"] is not None:
        services().log_call("record_click", g.params["query_id"], doc_id, user_id=str(current_user.id))
    return jsonify(data)


# -- managers: SOPs --------------------------------------------------------------------------------
@api.route("/sops", "POST", summary="Create an SOP: a draft unless `status` says otherwise (agents see published "
           "SOPs only)", roles=MANAGERS, tag="sops", body=ref("SopWrite"), response=ref("Document"), status=201,
           errors=(409,))
def sop_create():
    doc = create_sop(services(), g.body.get("id", ""), SopForm.from_mapping(g.body, default_status="draft"),
                     by=current_user.username)
    return created(agent.document_data(doc.id))


@api.route("/sops/<path:doc_id>/publish", "POST", summary="Publish a draft or archived SOP: agents find it and get "
           "answers from it at once", roles=MANAGERS, tag="sops", response=ref("Document"), errors=(404, 409))
def sop_publish(doc_id: str):
    publish_sop(services(), doc_id, by=current_user.username)
    return jsonify(agent.document_data(doc_id))


@api.route("/sops/<path:doc_id>", "PUT", summary="Save a new version of an SOP (refused with 409 if base_version is stale)",
           roles=MANAGERS, tag="sops", body=ref("SopUpdate"), response=ref("Document"), errors=(404, 409),
           description="Fields left out keep their current values: {\"body\": ..., \"base_version\": 3} changes the "
                       "text and nothing else.")
def sop_update(doc_id: str):
    current = get_sop(services().store, doc_id)
    save_sop(services(), doc_id, SopForm.from_mapping(g.body, current=current), by=current_user.username,
             base_version=g.body["base_version"])
    return jsonify(agent.document_data(doc_id))


@api.route("/sops/<path:doc_id>/versions", summary="Version history: who changed what and when", roles=MANAGERS,
           tag="sops", response=array(ref("Version")), errors=(404,))
def sop_versions(doc_id: str):
    get_sop(services().store, doc_id)
    return jsonify(services().store.document_versions(doc_id))


@api.route("/sops/<path:doc_id>/versions/<int:version>", summary="The text of one version", roles=MANAGERS,
           tag="sops", response=ref("Document"), errors=(404,))
def sop_version(doc_id: str, version: int):
    d = services().store.get_version(doc_id, version).to_dict()
    d.pop("source_path", None)
    return jsonify(d)


@api.route("/sops/<path:doc_id>/diff", summary="Line diff between two versions", roles=MANAGERS, tag="sops",
           params=[Param("a", "integer", required=True), Param("b", "integer", required=True)], response=ref("Diff"),
           errors=(404,))
def sop_diff(doc_id: str):
    store = services().store
    a, b = g.params["a"], g.params["b"]
    va, vb = store.get_version(doc_id, a), store.get_version(doc_id, b)
    rows = side_by_side(va.body, vb.body)
    return jsonify({"doc_id": doc_id, "a": a, "b": b, **diff_stats(rows), "rows": [r.__dict__ for r in rows],
                    "unified": unified(va.body, vb.body, f"{doc_id}@{a}", f"{doc_id}@{b}")})


@api.route("/sops/<path:doc_id>/restore", "POST", summary="Restore an old version (as a new version)",
           roles=MANAGERS, tag="sops", body=ref("Restore"), response=ref("Document"), errors=(404, 409))
def sop_restore(doc_id: str):
    restore_version(services(), doc_id, g.body["version"], by=current_user.username,
                    base_version=g.body.get("base_version"))
    return jsonify(agent.document_data(doc_id))


@api.route("/sops/<path:doc_id>/review", "POST", summary="Mark an SOP reviewed: a new review-by date "
           "(the one given, or today + review_months)", roles=MANAGERS, tag="sops", body=ref("Review"),
           response=ref("Document"), errors=(404,))
def sop_review(doc_id: str):
    mark_reviewed(services(), doc_id, by=current_user.username, review_by=g.body.get("review_by", ""))
    return jsonify(agent.document_data(doc_id))


@api.route("/preview", "POST", summary="Render SOP Markdown as the app shows it (sanitised HTML)", roles=MANAGERS,
           tag="sops", body=ref("Preview"), response=ref("PreviewHtml"))
def preview():
    return jsonify({"html": str(render_markdown(g.body["body"]))})


@api.route("/uploads", "POST", summary="Upload SOP files (.md .txt .html) and ticket files (.csv .jsonl) to index "
           "in the background", roles=MANAGERS, tag="uploads", status=202, response=ref("Job"),
           body={"multipart": {"type": "object", "required": ["files"], "properties": {
               "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}})
def upload():
    job = start_upload(services(), request.files.getlist("files"), by=current_user.username)
    return created(job.to_dict(), 202)


@api.route("/jobs/<job_id>", summary="Progress of a background job (upload, scoring)", roles=("manager", "analyst"),
           tag="jobs", response=ref("Job"), errors=(404,))
def job_status(job_id: str):
    job = services().jobs.get(job_id)
    if job.owner != current_user.username and current_user.role != "admin":
        raise NotFoundError(f"No job {job_id!r}")
    return jsonify(job.to_dict())


# The QA routes live in their own module but on the same registry (and so in the same OpenAPI document).
from webapp import api_qa as _api_qa  # noqa: E402,F401
