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
        "url": STR}},
    "SearchResults": {"type": "object", "properties": {
        "query": STR, "mode": STR, "query_id": {**INT, "nullable": True}, "results": array(ref("Hit")),
        "latency_ms": NUM,
        "weak_match": {"type": "boolean", "nullable": True, "description": "true when nothing is close: the best "
                       "cosine similarity is under weak_match_threshold (null: unknown, e.g. lexical mode)"},
        "best_score": {**NUM, "nullable": True, "description": "best cosine similarity of any chunk"}}},
    "Citation": {"type": "object", "properties": {"id": STR, "type": STR, "title": STR, "heading": STR, "url": STR}},
    "Source": {"type": "object", "properties": {"id": STR, "type": STR, "title": STR, "score": NUM, "heading": STR,
                                                "status": STR, "url": STR}},
    "Answer": {"type": "object", "properties": {
        "answer": STR, "answer_plain": {"type": "string", "description": "the answer without Markdown marks, to read out or paste"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1}, "abstained": BOOL,
        "threshold": NUM, "citations": array(ref("Citation")), "sources": array(ref("Source")),
        "query_id": {**INT, "nullable": True}, "latency_ms": NUM, "engine": STR}},
    "AnswerRequest": {"type": "object", "required": ["question"], "properties": {
        "question": {"type": "string", "minLength": 1, "maxLength": 10000}, "log": BOOL}},
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
               "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"}}},
    "TurnsRequest": {"type": "object", "properties": {
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
