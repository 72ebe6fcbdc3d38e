"""JSON schemas of the API: request bodies (validated by webapp.apispec) and responses (documented)."""

from __future__ import annotations


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def array(item: dict) -> dict:
    return {"type": "array", "items": item}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
TAGS = array(STR)
SOP_STATUS = {"type": "string", "enum": ["draft", "published", "archived"]}
DATE = {"type": "string", "description": "YYYY-MM-DD (empty: none)", "pattern": r"^(\d{4}-\d{2}-\d{2})?$"}

OWNER = {"type": "string", "maxLength": 64,
         "description": "admins only: the user name of the agent a new conversation belongs to (a telephony or "
                        "chat bridge names the agent on the call); others' conversations are their own"}

SCHEMAS: dict[str, dict] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": STR, "message": STR, "hint": STR, "field": STR}}}},
    "User": {"type": "object", "properties": {"id": INT, "username": STR, "role": STR, "display_name": STR,
                                              "active": BOOL, "created_at": STR, "last_login": STR}},
    "Hit": {"type": "object", "properties": {
        "id": STR, "type": {"type": "string", "enum": ["sop", "ticket"]}, "title": STR, "score": NUM,
        "snippet": {"type": "string", "description": "HTML-escaped text, matched words in <mark>"},
        "heading": STR, "chunk_id": INT, "chunk_text": STR, "tags": TAGS, "dense_score": {**NUM, "nullable": True},
        "status": {"type": "string", "description": "an SOP's draft, published or archived; a ticket's own status"},
        "url": STR}},
    "SearchResults": {"type": "object", "properties": {
        "query": STR, "mode": STR, "query_id": {**INT, "nullable": True}, "results": array(ref("Hit")),
        "latency_ms": NUM, "statuses": {**array(STR), "description": "the SOP statuses searched (empty: all)"},
        "weak_match": {"type": "boolean", "nullable": True, "description": "true when nothing is close: the best "
                       "cosine similarity is under weak_match_threshold (null: unknown, e.g. lexical mode)"},
        "best_score": {**NUM, "nullable": True, "description": "best cosine similarity of any chunk"}}},
    "Citation": {"type": "object", "properties": {
        "id": STR, "type": STR, "title": STR, "heading": STR, "status": STR, "url": STR,
        "quoted": {"type": "boolean", "description": "false: a past ticket that supports the answer, not quoted"}}},
    "ChecklistItem": {"type": "object", "properties": {
        "text": STR, "number": {**INT, "nullable": True, "description": "the step's own number in its SOP"},
        "sub": array(STR), "source": STR,
        "gap": {"type": "boolean", "description": "true: steps of the procedure not shown (text says which)"}}},
    "Source": {"type": "object", "properties": {"id": STR, "type": STR, "title": STR, "score": NUM, "heading": STR,
                                                "status": STR, "url": STR}},
    "Answer": {"type": "object", "properties": {
        "answer": STR, "answer_plain": {"type": "string", "description": "the answer without Markdown marks, to read out or paste"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1}, "abstained": BOOL,
        "threshold": NUM, "citations": array(ref("Citation")), "sources": array(ref("Source")),
        "say": {**array(STR), "description": "customer wording from the SOP's \"Say:\" lines, in order"},
        "say_text": {"type": "string", "description": "the customer wording as one text: what \"Copy answer\" copies"},
        "checklist": {**array(ref("ChecklistItem")), "description": "the agent's actions, steps with their numbers"},
        "warnings": {**array(STR), "description": "draft or archived source, overdue review, a competing procedure"},
        "ticket_quotes": {**array({"type": "object", "properties": {"id": STR, "text": STR, "url": STR}}),
                          "description": "past tickets' sentences quoted (nothing specific to their customer)"},
        "tentative": {"type": "boolean", "description": "live assist: shown below answer_threshold; check it fits"},
        "confidence_label": {"type": "string", "description": "the confidence as shown, e.g. 'Confidence 72%'"},
        "statuses": {**array(STR), "description": "the SOP statuses used (empty: all)"},
        "query_id": {**INT, "nullable": True}, "latency_ms": NUM, "engine": STR}},
    "AnswerRequest": {"type": "object", "required": ["question"], "properties": {
        "question": {"type": "string", "minLength": 1, "maxLength": 20000}, "log": BOOL,
        "status": {**array({"type": "string", "enum": ["published", "draft", "archived", "all"]}),
                   "description": "SOP statuses to answer from (default: published only)"}}},
    "Turn": {"type": "object", "required": ["speaker", "text"], "properties": {
        "speaker": {"type": "string", "description": "customer or agent (aliases such as Caller or Rep work)"},
        "text": {"type": "string", "maxLength": 20000}}},
    "AssistRequest": {"type": "object", "required": ["turns"], "properties": {
        "turns": {"type": "array", "items": ref("Turn"), "minItems": 1, "maxItems": 400},
        "state": {"type": "object", "description": "the `state` returned by the previous call, if any"}}},
    "AssistResult": {"type": "object", "properties": {
        "need": STR, "topic": STR, "topic_changed": BOOL, "sops": array(ref("Source")), "answer": ref("Answer"),
        "state": {"type": "object"}}},
    "NewConversation": {"type": "object", "properties": {
        "id": {"type": "string", "description": "your own id (a call or chat id); random when left out",
               "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"},
        "owner": OWNER}},
    "TurnsRequest": {"type": "object", "properties": {
        "owner": OWNER,
        "turns": {"type": "array", "items": ref("Turn"), "maxItems": 400},
        "text": {"type": "string", "maxLength": 100000,
                 "description": "turns as pasted text: 'Speaker: text' lines (used when `turns` is absent)"}}},
    "Conversation": {"type": "object", "properties": {
        "id": STR, "created_by": STR, "turns": array(ref("Turn")), "revision": INT,
        "suggestion": {"nullable": True, **ref("AssistResult")}, "created_at": STR, "updated_at": STR}},
    "Feedback": {"type": "object", "required": ["query_id", "helpful"], "properties": {
        "query_id": INT, "helpful": BOOL,
        "doc_id": {"type": "string", "description": "the result the feedback is about; absent: the answer"}}},
    "Ok": {"type": "object", "properties": {"ok": BOOL}},
    "DocumentSummary": {"type": "object", "properties": {
        "id": STR, "type": STR, "title": STR, "owner": STR, "tags": TAGS, "status": STR, "review_by": STR,
        "overdue": BOOL, "version": INT, "updated_at": STR, "updated_by": STR}},
    "Document": {"type": "object", "properties": {
        "id": STR, "type": STR, "title": STR, "body": STR, "owner": STR, "tags": TAGS, "status": STR,
        "review_by": STR, "overdue": BOOL, "version": INT, "updated_at": STR, "updated_by": STR, "metadata": {"type": "object"},
        "passage": {"type": "object", "nullable": True, "properties": {"chunk_id": INT, "heading": STR, "start": INT,
                                                                      "end": INT, "text": STR}},
        "steps": array({"type": "object", "properties": {"number": INT, "text": STR, "heading": STR}})}},
    "SopWrite": {"type": "object", "required": ["title", "body"], "properties": {
        "id": {"type": "string", "description": "new SOPs only", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,119}$"},
        "title": {"type": "string", "minLength": 1, "maxLength": 300}, "body": {"type": "string", "minLength": 1},
        "owner": STR, "tags": TAGS, "status": SOP_STATUS, "review_by": DATE, "note": STR,
        "base_version": {"type": "integer", "description": "the version the edit started from (required to update)"}}},
    "SopUpdate": {"type": "object", "required": ["base_version"], "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 300}, "body": {"type": "string", "minLength": 1},
        "owner": STR, "tags": TAGS, "status": SOP_STATUS, "review_by": DATE, "note": STR,
        "base_version": {"type": "integer", "minimum": 0,
                         "description": "the version the edit started from (a save on top of a newer one is refused)"}},
        "description": "fields left out keep their current values"},
    "Version": {"type": "object", "properties": {
        "doc_id": STR, "version": INT, "title": STR, "created_at": STR, "created_by": STR, "note": STR,
        "deleted": INT, "status": STR}},
    "DiffRow": {"type": "object", "properties": {"kind": STR, "left_no": {**INT, "nullable": True}, "left": STR,
                                                 "right_no": {**INT, "nullable": True}, "right": STR}},
    "Diff": {"type": "object", "properties": {"doc_id": STR, "a": INT, "b": INT, "added": INT, "removed": INT,
                                              "rows": array(ref("DiffRow")), "unified": STR}},
    "Restore": {"type": "object", "required": ["version"], "properties": {"version": INT, "base_version": INT}},
    "Review": {"type": "object", "properties": {"review_by": DATE}},
    "Preview": {"type": "object", "required": ["body"], "properties": {"body": {"type": "string", "maxLength": 500000}}},
    "PreviewHtml": {"type": "object", "properties": {"html": {"type": "string", "description": "sanitised HTML"}}},
    "Job": {"type": "object", "properties": {
        "id": STR, "kind": STR, "owner": STR, "title": STR,
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]}, "done": INT, "total": INT,
        "percent": INT, "message": STR, "result": {"type": "object"}, "error": {"nullable": True, **ref("Error")},
        "seconds": NUM}},
    "Tag": {"type": "object", "properties": {"tag": STR, "count": INT}},
    "Health": {"type": "object", "properties": {"status": STR, "documents": {"type": "object"}, "schema": STR}},
}
