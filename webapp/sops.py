"""SOP editing as plain functions, shared by the manager pages and the API.

Saving writes a new version (the previous ones stay in `document_versions`) and re-indexes that
document only (`indexer.pipeline.reindex_document`: unchanged chunks keep their vectors), so the
new text is searchable as soon as the save returns. A save carries the version it was based on;
when someone saved in between, the store refuses it with a ConflictError and nothing is written.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from indexer.pipeline import reindex_document
from indexer.readers import SOP_STATUSES
from kb.errors import ConflictError, InputError, NotFoundError
from kb.models import Document

_SOP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,119}$")
MAX_BODY = 500_000


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def parse_date(value: str, field: str = "review_by") -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        raise InputError(f"{value!r} is not a date", hint="write it as YYYY-MM-DD", field=field) from None


def parse_tags(value: Any) -> list[str]:
    if isinstance(value, list):
        items = [str(t) for t in value]
    else:
        items = re.split(r"[;,]", str(value or ""))
    out: list[str] = []
    for t in items:
        t = t.strip().lower()
        if t and t not in out:
            out.append(t[:60])
    return out


def is_overdue(review_by: str, today: date | None = None) -> bool:
    if not review_by:
        return False
    try:
        return date.fromisoformat(review_by[:10]) < (today or date.today())
    except ValueError:
        return False


def sop_summary(doc: Document, today: date | None = None) -> dict[str, Any]:
    return {"id": doc.id, "title": doc.title, "owner": doc.owner, "tags": doc.tags, "status": doc.status,
            "review_by": doc.review_by, "overdue": is_overdue(doc.review_by, today), "version": doc.version,
            "updated_at": doc.updated_at, "updated_by": doc.updated_by}


@dataclass
class SopForm:
    """What an editor (page or API) sends."""

    title: str
    body: str
    owner: str = ""
    tags: list[str] | None = None
    status: str = "published"
    review_by: str = ""
    note: str = ""

    @classmethod
    def from_mapping(cls, data: Any, current: Document | None = None, *, default_status: str = "published") -> SopForm:
        """The form from a page's fields or an API body; `default_status` when it names none (creating:
        "draft"). With `current` (an update), a field the data does not name keeps its current value:
        `{"body": ..., "base_version": 3}` changes the text only."""
        def given(key: str) -> bool:
            return key in data and data.get(key) is not None

        def pick(key: str, now: Any, fallback: Any = "") -> Any:
            if given(key):
                return data.get(key) or fallback
            return now if current is not None else fallback

        cur = current
        return cls(title=str(pick("title", cur and cur.title)).strip(), body=str(pick("body", cur and cur.body)),
                   owner=str(pick("owner", cur and cur.owner)).strip(),
                   tags=parse_tags(data.get("tags")) if given("tags") or cur is None else list(cur.tags),
                   status=str(pick("status", cur and (cur.status or default_status), default_status)).strip().lower(),
                   review_by=parse_date(str(pick("review_by", cur and cur.review_by))),
                   note=str(data.get("note") or "").strip())

    def check(self) -> None:
        if not self.title:
            raise InputError("The title is empty", hint="give the SOP a title", field="title")
        if not self.body.strip():
            raise InputError("The text is empty", hint="write the procedure in Markdown", field="body")
        if len(self.body) > MAX_BODY:
            raise InputError(f"The text is longer than {MAX_BODY:,} characters", field="body")
        if self.status not in SOP_STATUSES:
            raise InputError(f"Status {self.status!r} is not one of {', '.join(SOP_STATUSES)}", field="status")


def _body(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n") + "\n"


def get_sop(store, doc_id: str) -> Document:
    doc = store.get_document(doc_id)
    if doc.type != "sop":
        raise NotFoundError(f"{doc_id!r} is a ticket, not an SOP", hint="only SOPs are edited here")
    return doc


def create_sop(services, doc_id: str, form: SopForm, *, by: str) -> Document:
    doc_id = (doc_id or "").strip()
    if not _SOP_ID.match(doc_id):
        raise InputError(f"Invalid SOP id {doc_id!r}",
                         hint="letters, digits and . _ / -, e.g. sop-gift-cards", field="id")
    form.check()
    if services.store.has_document(doc_id):
        raise ConflictError(f"An SOP with the id {doc_id!r} exists already", hint="choose another id, or edit it",
                            field="id")
    doc = Document(id=doc_id, type="sop", title=form.title, body=_body(form.body), tags=form.tags or [],
                   owner=form.owner, status=form.status, review_by=form.review_by,
                   metadata={"created_in": "web"})
    return reindex_document(services.store, services.embedder, services.config, doc, by=by,
                            note=form.note or "created", expected_version=0)


def save_sop(services, doc_id: str, form: SopForm, *, by: str, base_version: int) -> Document:
    """A new version of an existing SOP, refused (ConflictError) when `base_version` is not the current one."""
    form.check()
    current = get_sop(services.store, doc_id)
    doc = Document(id=doc_id, type="sop", title=form.title, body=_body(form.body), source_path=current.source_path,
                   tags=form.tags if form.tags is not None else current.tags, owner=form.owner, status=form.status,
                   review_by=form.review_by, metadata=dict(current.metadata))
    return reindex_document(services.store, services.embedder, services.config, doc, by=by,
                            note=form.note or "edited", expected_version=int(base_version))


def restore_version(services, doc_id: str, version: int, *, by: str, base_version: int | None = None) -> Document:
    """A new version holding the text (and fields) of an old one; history is never rewritten."""
    current = get_sop(services.store, doc_id)
    old = services.store.get_version(doc_id, int(version))
    doc = Document(id=doc_id, type="sop", title=old.title, body=old.body, source_path=current.source_path,
                   tags=old.tags, owner=old.owner, status=old.status or current.status, review_by=old.review_by,
                   metadata=dict(current.metadata))
    expected = current.version if base_version is None else int(base_version)
    return reindex_document(services.store, services.embedder, services.config, doc, by=by,
                            note=f"restored version {version}", expected_version=expected)


def publish_sop(services, doc_id: str, *, by: str) -> Document:
    """Make a draft (or archived) SOP published: agents find it and get answers from it at once.
    The text and its vectors do not change; a version records who published it."""
    doc = get_sop(services.store, doc_id)
    if doc.status == "published":
        raise ConflictError(f"{doc_id!r} is published already", hint="nothing to do", field="status")
    return services.store.update_document_fields(doc_id, by=by, note=f"published (was {doc.status or 'no status'})",
                                                 status="published")


def mark_reviewed(services, doc_id: str, *, by: str, review_by: str = "", today: date | None = None) -> Document:
    """Sets a new review-by date: the one given, or today plus `review_months`."""
    get_sop(services.store, doc_id)
    new = parse_date(review_by) if review_by else add_months(today or date.today(),
                                                             int(services.config.review_months)).isoformat()
    if date.fromisoformat(new) < (today or date.today()):
        raise InputError("The new review-by date is in the past", hint="choose a later date", field="review_by")
    return services.store.update_document_fields(doc_id, by=by, note=f"reviewed; next review by {new}",
                                                 review_by=new)

