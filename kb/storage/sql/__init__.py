"""The SQL the two backends share, written once (see `kb.storage.sql.base` for the conventions)."""

from kb.storage.sql.accounts import AccountsSql
from kb.storage.sql.base import SqlStore
from kb.storage.sql.conversations import ConversationsSql
from kb.storage.sql.copy import CopySql
from kb.storage.sql.documents import DocumentsSql
from kb.storage.sql.erasures import ErasuresSql
from kb.storage.sql.jobs import JobsSql
from kb.storage.sql.qa import QaSql
from kb.storage.sql.qa_models import QaModelSql
from kb.storage.sql.querylog import QueryLogSql


class SharedSql(DocumentsSql, QaSql, QaModelSql, AccountsSql, QueryLogSql, JobsSql, ConversationsSql, ErasuresSql, CopySql,
                SqlStore):
    """Every concern's shared SQL; a backend subclasses this and fills in the dialect hooks."""


__all__ = ["SharedSql"]
