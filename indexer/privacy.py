"""Tickets are redacted before anything of them is stored: documents, versions, chunks, the lexical
index and the vectors only ever see `[CARD]`, `[EMAIL]`, `[PHONE]`, `[IBAN]`, `[NAME]` ... (the
`redact_pii` setting, on by default; the same redaction as QA transcripts and the query log).

- What is redacted: the ticket's subject, question and answer (its title and body are built from
  them again). Names come from the NER model on English tickets, from self-introductions and the
  name lists of `kb.names` in every language; a name found in one field is redacted in all of them.
  `redact_keep` words (the company's own name) are kept. The original text is never stored for
  tickets, whatever `store_original_text` says (that setting is about QA transcripts).
- Re-indexing stays cheap: each redacted ticket remembers a fingerprint of its source row and of
  the redaction (`metadata.source_hash`), so an unchanged ticket is recognised without running the
  name model again. Changing `redact_keep`, the spaCy model or this module's `VERSION` redacts
  every ticket again on the next run.
- Tickets stored before redaction was on (or by an older version) have their earlier versions
  redacted in place too (`DocumentStore.rewrite_version`): the history keeps its shape, not the data.
- New rules reach tickets that no run reads again (an upload's raw file is removed once indexed):
  the store remembers which `VERSION` redacted it (meta `ticket_redaction`), and the first run under a
  newer one redacts every stored ticket's current text again (`stored_to_redact_again`; redacted
  text stays as it is, so this is safe to interrupt and re-run) and stores it as a new version.
- SOPs are not redacted: they are the company's own procedures, written by its staff, and carry the
  company's phone numbers and addresses on purpose.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

from indexer.readers import ticket_title_body
from kb.lang import document_language
from kb.models import Document, content_hash
from kb.redact import NER_LANGUAGES, redact_many

VERSION = "3"  # 2: full UK postcodes and street addresses; 3: security codes, PINs, passwords, bank details,
# National Insurance, Social Security and passport numbers, numbers read out digit by digit
FIELDS = ("subject", "question", "answer")


class TicketRedactor:
    """Redacts tickets in batches (one NER pass over the English ones)."""

    def __init__(self, config):
        self.config = config
        self.keep = sorted(config.values.get("redact_keep") or [])
        self.languages = list(config.languages or ["en"])
        self.default = config.default_language or "en"
        self._nlp = None
        self._loaded = False
        self._lock = threading.Lock()  # the indexer redacts the next batch on a side thread: one at a time

    @property
    def nlp(self):
        if not self._loaded:
            from kb.text import load_ner

            self._nlp = load_ner(self.config.spacy_model)
            self._loaded = True
        return self._nlp

    def fingerprint(self, doc: Document) -> str:
        """Which source row and which redaction a stored ticket came from."""
        return content_hash(doc.hash, "redaction", VERSION, ",".join(self.keep), str(self.config.spacy_model))

    def redact(self, docs: Sequence[Document], *, detected: bool = False) -> list[Document]:
        """The tickets with their PII replaced (new Document objects; SOPs are returned as they are).
        `detected`: each document's `language` is already its detected language (the indexer's
        `assign_languages`), so it is not detected again."""
        with self._lock:
            return self._redact(docs, detected)

    def _redact(self, docs: Sequence[Document], detected: bool) -> list[Document]:
        tickets = [d for d in docs if d.type == "ticket"]
        if not tickets:
            return list(docs)
        langs = {id(d): d.language if detected and d.language else
                 document_language(d, self.languages, default=self.default) for d in tickets}
        english = [d for d in tickets if langs[id(d)] in NER_LANGUAGES]
        parsed: dict[int, list] = {}
        if english and self.nlp is not None:
            texts = [str(d.metadata.get(f) or "") for d in english for f in FIELDS]
            ner = list(self.nlp.pipe(texts, batch_size=64))
            for i, d in enumerate(english):
                parsed[id(d)] = ner[i * len(FIELDS):(i + 1) * len(FIELDS)]
        out = []
        for d in docs:
            out.append(self._one(d, langs.get(id(d)), parsed.get(id(d))) if d.type == "ticket" else d)
        return out

    def _one(self, doc: Document, language: str | None, parsed: list | None) -> Document:
        fields = [str(doc.metadata.get(f) or "") for f in FIELDS]
        done = redact_many(fields, docs=parsed, keep=self.keep, language=language or "en", name_lists="text")
        subject, question, answer = (text for text, _ in done)
        title, body = ticket_title_body(doc.id, subject, question, answer)
        meta = dict(doc.metadata, subject=subject, question=question, answer=answer,
                    source_hash=self.fingerprint(doc))
        return Document(id=doc.id, type=doc.type, title=title, body=body, source_path=doc.source_path,
                        tags=list(doc.tags), owner=doc.owner, status=doc.status, review_by=doc.review_by,
                        metadata=meta, language=doc.language)

    def redact_version(self, version: Document) -> Document | None:
        """An earlier stored version of a ticket, redacted; None when it is already (nothing to rewrite)."""
        if not any(k in version.metadata for k in FIELDS):
            return None
        ticket = Document(id=version.id, type="ticket", title=version.title, body=version.body,
                          metadata=dict(version.metadata), language=version.language)
        lang = document_language(ticket, self.languages, default=self.default)
        with self._lock:
            parsed = list(self.nlp.pipe([str(ticket.metadata.get(f) or "") for f in FIELDS])) \
                if lang in NER_LANGUAGES and self.nlp is not None else None
        red = self._one(ticket, lang, parsed)
        red.metadata.pop("source_hash", None)
        if version.metadata.get("source_hash"):
            red.metadata["source_hash"] = version.metadata["source_hash"]
        if (red.title, red.body, red.metadata) == (version.title, version.body, version.metadata):
            return None
        return red


META_KEY = "ticket_redaction"  # store meta: the VERSION that redacted every stored ticket


def rules_changed(store) -> bool:
    """Whether the store's tickets were redacted by another `VERSION` of the rules (or by none yet)."""
    return store.get_meta(META_KEY) != VERSION


def stored_to_redact_again(store, redactor: TicketRedactor, ids: Sequence[str], bar=None) -> list[Document]:
    """Of the stored tickets `ids` (those this run does not read from their source), those whose current text
    the current rules redact further, as documents to index again (their earlier versions follow in
    `indexer.batches`). `bar(total)`: a progress bar (a context manager with `update`), for this
    once-per-upgrade pass."""
    out = []
    with (bar(len(ids)) if bar is not None and ids else contextlib.nullcontext()) as progress:
        for doc_id in ids:
            red = redactor.redact_version(store.get_document(doc_id))
            if red is not None:
                out.append(red)
            if progress is not None:
                progress.update(1)
    return out


def mark_redacted(store) -> None:
    """Every stored ticket is now redacted by this `VERSION` (after the run that redacted them again)."""
    store.set_meta(META_KEY, VERSION)
