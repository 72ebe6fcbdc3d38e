"""Live-assist conversations: the turns so far, the assist state and the latest suggestions.

A conversation grows from two sides: the agent types or pastes turns on the assist page, and a
speech-to-text or chat system pushes them through the API (`POST /api/v1/assist/conversations/ID/turns`,
the id being the call's or chat's own id), possibly through different app servers. They are kept
in the database (`kb.storage` `ConversationStore`) with their owner (the user who started them),
and removed `assist_retention_hours` after their last turn (the turns are not redacted).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from kb.errors import InputError
from kb.storage import ConversationRecord

MAX_TURNS = 400
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def check_conversation_id(cid: str) -> str:
    if not _ID.match(cid or ""):
        raise InputError(f"Invalid conversation id {cid!r}",
                         hint="1-64 characters: letters, digits and _ . : -", field="conversation_id")
    return cid


class Conversations:
    def __init__(self, store, config):
        self.store = store
        self.hours = float(config.assist_retention_hours)

    def _expire(self) -> None:
        cutoff = datetime.now(UTC) - timedelta(hours=self.hours)
        self.store.expire_conversations(cutoff.replace(microsecond=0).isoformat().replace("+00:00", "Z"))

    def create(self, user, cid: str | None = None) -> ConversationRecord:
        """A conversation (new, or the existing one with that id) started by `user` (a User)."""
        cid = check_conversation_id(cid) if cid else secrets.token_hex(6)
        self._expire()
        return self.store.create_conversation(cid, owner=user.id, created_by=user.username)

    def get(self, cid: str) -> ConversationRecord:
        return self.store.get_conversation(cid)

    def get_or_create(self, cid: str, user) -> ConversationRecord:
        return self.create(user, check_conversation_id(cid))

    def recent(self, limit: int = 20) -> list[ConversationRecord]:
        self._expire()
        return self.store.recent_conversations(limit)

    def add_turns(self, cid: str, turns: list[dict[str, str]]) -> ConversationRecord:
        return self.store.append_turns(cid, turns, max_turns=MAX_TURNS)
