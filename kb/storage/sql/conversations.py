"""Live-assist conversation SQL (both backends): turns appended atomically, the latest suggestion kept.

A conversation grows from two sides (the agent's page and a speech-to-text or chat system), possibly
through different app servers: turns are appended under a row lock, and a suggestion is kept only
if no suggestion for a newer revision is already stored.
"""

from __future__ import annotations

import json
from typing import Any

from kb.errors import InputError, NotFoundError
from kb.storage.records import ConversationRecord, now_iso


def _conv(r: dict[str, Any]) -> ConversationRecord:
    return ConversationRecord(id=r["id"], owner=r["owner"], created_by=r["created_by"], turns=json.loads(r["turns"]),
                              state=json.loads(r["state"]) if r["state"] else None,
                              suggestion=json.loads(r["suggestion"]) if r["suggestion"] else None,
                              revision=int(r["revision"]), suggestion_revision=int(r["suggestion_revision"]),
                              created_at=r["created_at"], updated_at=r["updated_at"])


class ConversationsSql:
    def create_conversation(self, conversation_id: str, *, owner: int | None, created_by: str) -> ConversationRecord:
        ts = now_iso()
        self._exec("INSERT INTO assist_conversations(id, owner, created_by, turns, revision, suggestion_revision, "
                   "created_at, updated_at) VALUES (?, ?, ?, '[]', 0, 0, ?, ?) ON CONFLICT(id) DO NOTHING",
                   (conversation_id, owner, created_by, ts, ts))
        return self.get_conversation(conversation_id)

    def get_conversation(self, conversation_id: str) -> ConversationRecord:
        r = self._row("SELECT * FROM assist_conversations WHERE id = ?", (conversation_id,))
        if r is None:
            raise NotFoundError(f"No conversation {conversation_id!r}",
                                hint="start one on the assist page, or push its first turns to the API")
        return _conv(r)

    def recent_conversations(self, limit: int = 20, *, owner: int | None = None) -> list[ConversationRecord]:
        where, params = "", []
        if owner is not None:
            where, params = " WHERE owner = ?", [owner]
        return [_conv(r) for r in self._rows(f"SELECT * FROM assist_conversations{where} ORDER BY updated_at DESC, "
                                             "id LIMIT ?", [*params, int(limit)])]

    def append_turns(self, conversation_id: str, turns: list[dict[str, Any]], *, max_turns: int) -> ConversationRecord:
        with self.transaction():
            r = self._row(f"SELECT turns, revision FROM assist_conversations WHERE id = ?{self._for_update}",
                          (conversation_id,))
            if r is None:
                raise NotFoundError(f"No conversation {conversation_id!r}")
            have = json.loads(r["turns"])
            if len(have) + len(turns) > max_turns:
                raise InputError(f"A conversation holds at most {max_turns} turns", field="turns")
            self._exec("UPDATE assist_conversations SET turns = ?, revision = revision + 1, updated_at = ? WHERE id = ?",
                       (json.dumps(have + list(turns), ensure_ascii=False), now_iso(), conversation_id))
        return self.get_conversation(conversation_id)

    def save_suggestion(self, conversation_id: str, revision: int, state: dict[str, Any] | None,
                        suggestion: dict[str, Any]) -> bool:
        return self._exec("UPDATE assist_conversations SET state = ?, suggestion = ?, suggestion_revision = ? "
                          "WHERE id = ? AND suggestion_revision <= ?",
                          (json.dumps(state) if state is not None else None,
                           json.dumps(suggestion, ensure_ascii=False, default=str), int(revision), conversation_id,
                           int(revision))) > 0

    def expire_conversations(self, updated_before: str) -> int:
        return self._exec("DELETE FROM assist_conversations WHERE updated_at < ?", (updated_before,))
