"""Live-assist conversations: the turns so far, the assist state and the latest suggestions.

A conversation grows from two sides: the agent types or pastes turns on the assist page, and a
speech-to-text or chat system pushes them through the API (`POST /api/v1/assist/conversations/ID/turns`,
the id being the call's or chat's own id). The page polls for changes. Conversations are kept in
memory (a call lasts minutes): the most recent `KEEP`, each for `TTL_S` after its last turn.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from kb.errors import InputError, NotFoundError

KEEP = 500
TTL_S = 12 * 3600
MAX_TURNS = 400
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def check_conversation_id(cid: str) -> str:
    if not _ID.match(cid or ""):
        raise InputError(f"Invalid conversation id {cid!r}",
                         hint="1-64 characters: letters, digits and _ . : -", field="conversation_id")
    return cid


@dataclass
class Conversation:
    id: str
    created_by: str
    turns: list[dict[str, str]] = field(default_factory=list)
    state: dict[str, Any] | None = None
    suggestion: dict[str, Any] | None = None
    revision: int = 0  # bumped on every change: the page polls for a newer one
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_by": self.created_by, "turns": self.turns, "revision": self.revision,
                "suggestion": self.suggestion,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at)),
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.updated_at))}


class Conversations:
    def __init__(self) -> None:
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self) -> None:
        cutoff = time.time() - TTL_S
        for cid in [c for c, conv in self._items.items() if conv.updated_at < cutoff]:
            del self._items[cid]
        while len(self._items) > KEEP:
            self._items.popitem(last=False)

    def create(self, by: str, cid: str | None = None) -> Conversation:
        cid = check_conversation_id(cid) if cid else secrets.token_hex(6)
        with self._lock:
            self._expire()
            conv = self._items.get(cid)
            if conv is None:
                conv = self._items[cid] = Conversation(id=cid, created_by=by)
            return conv

    def get(self, cid: str) -> Conversation:
        with self._lock:
            conv = self._items.get(cid)
        if conv is None:
            raise NotFoundError(f"No conversation {cid!r}",
                                hint="start one on the assist page, or push its first turns to the API")
        return conv

    def get_or_create(self, cid: str, by: str) -> Conversation:
        check_conversation_id(cid)
        with self._lock:
            conv = self._items.get(cid)
        return conv or self.create(by, cid)

    def recent(self, limit: int = 20) -> list[Conversation]:
        with self._lock:
            self._expire()
            items = list(self._items.values())
        return sorted(items, key=lambda c: -c.updated_at)[:limit]

    @staticmethod
    def add_turns(conv: Conversation, turns: list[dict[str, str]]) -> None:
        if len(conv.turns) + len(turns) > MAX_TURNS:
            raise InputError(f"A conversation holds at most {MAX_TURNS} turns", field="turns")
        conv.turns.extend(turns)
        conv.revision += 1
        conv.updated_at = time.time()
