"""Live-assist conversations: the turns so far, the assist state and the latest suggestions.

A conversation grows from two sides: the agent types or pastes turns on the assist page, and a
speech-to-text or chat system pushes them through the API (`POST /api/v1/assist/conversations/ID/turns`,
the id being the call's or chat's own id), possibly through different app servers. They are kept
in the database (`kb.storage` `ConversationStore`) and removed `assist_retention_hours` after their
last turn.

- Private: a conversation belongs to the user who started it. Only that user and admins may list,
  read or add to it; anyone else is told there is no such conversation (404), so ids cannot be
  probed. A telephony or chat bridge that pushes the turns of calls uses an admin's API token and
  names the agent the call belongs to (`owner`), so the agent sees it.
- Redacted: turns are redacted (`kb.redact`: cards, e-mails, phones, IBANs, names, as in QA
  transcripts) before they are stored, so what is kept and shown never holds the customer's card
  number, even for the conversation's own agent. With `redact_pii` off they are kept as said.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from kb.errors import InputError, NotFoundError
from kb.storage import ConversationRecord

MAX_TURNS = 400
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def check_conversation_id(cid: str) -> str:
    if not _ID.match(cid or ""):
        raise InputError(f"Invalid conversation id {cid!r}",
                         hint="1-64 characters: letters, digits and _ . : -", field="conversation_id")
    return cid


def _missing(cid: str) -> NotFoundError:
    return NotFoundError(f"No conversation {cid!r}",
                         hint="start one on the assist page, or push its first turns to the API")


class Conversations:
    def __init__(self, store, config, accounts=None):
        self.store = store
        self.config = config
        self.accounts = accounts
        self.hours = float(config.assist_retention_hours)
        self._nlp = None

    def _expire(self) -> None:
        cutoff = datetime.now(UTC) - timedelta(hours=self.hours)
        self.store.expire_conversations(cutoff.replace(microsecond=0).isoformat().replace("+00:00", "Z"))

    @staticmethod
    def may_use(user, conv: ConversationRecord) -> bool:
        return user.role == "admin" or (conv.owner is not None and int(conv.owner) == int(user.id))

    def _owner_for(self, user, owner: str | None):
        """The user a new conversation belongs to: `user`, or (admins only) the named agent."""
        if not owner or owner == user.username:
            return user
        if user.role != "admin":
            raise InputError("Only an admin may start a conversation for someone else",
                             hint="leave `owner` out: the conversation is yours", field="owner")
        if self.accounts is None:  # pragma: no cover - the web app always passes its accounts
            raise InputError("Unknown owner", field="owner")
        found = self.accounts.find_user(owner)
        if found is None:
            raise InputError(f"No user named {owner!r}", hint="name an existing user", field="owner")
        return found

    def create(self, user, cid: str | None = None, *, owner: str | None = None) -> ConversationRecord:
        """A conversation (new, or the existing one with that id if `user` may use it) started by `user`
        (a webapp.accounts.User), or by an admin for `owner`."""
        cid = check_conversation_id(cid) if cid else secrets.token_hex(8)
        self._expire()
        who = self._owner_for(user, owner)
        conv = self.store.create_conversation(cid, owner=who.id, created_by=who.username)
        if not self.may_use(user, conv):
            raise _missing(cid)
        return conv

    def get(self, cid: str, user) -> ConversationRecord:
        try:
            conv = self.store.get_conversation(cid)
        except NotFoundError:
            raise _missing(cid) from None
        if not self.may_use(user, conv):
            raise _missing(cid)
        return conv

    def get_or_create(self, cid: str, user, *, owner: str | None = None) -> ConversationRecord:
        return self.create(user, check_conversation_id(cid), owner=owner)

    def recent(self, user, limit: int = 20) -> list[ConversationRecord]:
        """The user's own recent conversations (an admin's: everyone's)."""
        self._expire()
        return self.store.recent_conversations(limit, owner=None if user.role == "admin" else user.id)

    def add_turns(self, cid: str, turns: list[dict[str, str]], user) -> ConversationRecord:
        self.get(cid, user)
        return self.store.append_turns(cid, self.redact(turns), max_turns=MAX_TURNS)

    # -- redaction -------------------------------------------------------------------------------
    def redact(self, turns: list[dict[str, str]]) -> list[dict[str, str]]:
        """The turns with personal data replaced by placeholders ([CARD], [EMAIL], [NAME] ...)."""
        if not turns or not self.config.redact_pii:
            return list(turns)
        from kb.redact import redact_many
        from kb.text import load_ner

        if self._nlp is None:
            self._nlp = load_ner(self.config.spacy_model) or False
        keep = self.config.values.get("redact_keep") or []
        done = redact_many([t["text"] for t in turns], self._nlp or None, keep=keep, name_lists="text")
        return [{**t, "text": text} for t, (text, _) in zip(turns, done, strict=True)]
