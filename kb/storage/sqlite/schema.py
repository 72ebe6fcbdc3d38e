"""The SQLite schema: named, ordered migrations per package, recorded in the `schema_migrations` table.

Each package of the schema has its own migrations, named `<package>.<nnnn>_<what>`: `kb` (documents,
versions, chunks, lexical index), `qa`, `accounts`, `querylog`, `jobs` and `assist`. The PostgreSQL
backend has the same names (kb/storage/postgres/schema.py). Append new migrations at the end; never
edit one that has shipped. A database that records a migration this code does not know was written
by a newer Deskbook and is refused. Deskbook 0.1 named its four migrations without a package; they
are renamed on the first start (`LEGACY`).
"""

from __future__ import annotations

from typing import Any

CORE = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('sop', 'ticket')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    source_path TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',          -- JSON list
    owner TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    review_by TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',      -- JSON object
    content_hash TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS documents_type ON documents(type);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source_path);

-- Every version of every document, the current one included: nothing is ever lost.
CREATE TABLE IF NOT EXISTS document_versions (
    doc_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    owner TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    review_by TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    deleted INTEGER NOT NULL DEFAULT 0,       -- 1: the document was removed at this version
    PRIMARY KEY (doc_id, version)
);

CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,    -- never reused: FAISS ids stay valid
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    heading TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'text',
    start_char INTEGER NOT NULL DEFAULT 0,
    end_char INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, ord);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(content_hash);

CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, heading, text,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

# Web app sign-in (webapp/accounts.py): users with hashed passwords and roles, API tokens stored hashed.
ACCOUNTS = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('agent', 'analyst', 'manager', 'admin')),
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    last_login TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    token_hash TEXT NOT NULL UNIQUE,          -- sha256 of the token: the token itself is never stored
    prefix TEXT NOT NULL,                     -- first characters, to recognise a token in a list
    created_at TEXT NOT NULL,
    last_used TEXT NOT NULL DEFAULT '',
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens(user_id);
"""

# Manager insights (kb/insights/querylog.py): every search and answer request, clicks and feedback,
# SOP views, and the vectors of logged queries (by content hash, so a query is embedded once).
INSIGHTS = """
CREATE TABLE IF NOT EXISTS query_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,                         -- ISO 8601 UTC
    kind TEXT NOT NULL DEFAULT 'search',      -- search | answer | assist
    query TEXT NOT NULL,                      -- redacted: no PII is stored
    query_hash TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL DEFAULT '',
    results TEXT NOT NULL DEFAULT '[]',       -- JSON: [{id, type, score, dense_score}] best first
    top_score REAL,                           -- best cosine similarity among the results (NULL: unknown)
    abstained INTEGER NOT NULL DEFAULT 0,
    confidence REAL,
    redactions INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS query_log_ts ON query_log(ts);
CREATE INDEX IF NOT EXISTS query_log_hash ON query_log(query_hash);
CREATE TABLE IF NOT EXISTS query_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id INTEGER NOT NULL REFERENCES query_log(id) ON DELETE CASCADE,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('click', 'helpful', 'not_helpful')),
    doc_id TEXT NOT NULL DEFAULT '',          -- the result; empty: the answer as a whole
    user_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS query_events_query ON query_events(query_id);
CREATE TABLE IF NOT EXISTS doc_views (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT ''           -- search | answer | browse | editor ...
);
CREATE INDEX IF NOT EXISTS doc_views_doc ON doc_views(doc_id, ts);
CREATE INDEX IF NOT EXISTS doc_views_ts ON doc_views(ts);
CREATE TABLE IF NOT EXISTS query_vectors (
    query_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,                     -- float32, L2-normalised
    PRIMARY KEY (query_hash, model)
);
"""

QA = """
-- QA transcripts: one row per distinct content of a transcript (re-importing changed text adds a
-- row), so that stored evidence offsets always point into the text they were computed on.
CREATE TABLE IF NOT EXISTS qa_transcripts (
    id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    agent TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    turns TEXT NOT NULL,                      -- JSON list of turns, redacted when redaction is on
    original_turns TEXT,                      -- JSON; only with the store_original_text setting
    redacted INTEGER NOT NULL DEFAULT 1,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    PRIMARY KEY (id, content_hash)
);
CREATE INDEX IF NOT EXISTS qa_transcripts_agent ON qa_transcripts(agent);

-- One row per transcript x rubric id x rubric version x scoring time: never updated.
CREATE TABLE IF NOT EXISTS qa_scorecards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transcript_id TEXT NOT NULL,
    transcript_hash TEXT NOT NULL,
    rubric_id TEXT NOT NULL,
    rubric_version INTEGER NOT NULL,
    rubric_hash TEXT NOT NULL DEFAULT '',
    pass_mark REAL NOT NULL DEFAULT 0,
    agent TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL DEFAULT '',
    score REAL,                               -- percent of available points; NULL when nothing applies
    verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'na')),
    reason TEXT NOT NULL DEFAULT '',
    earned REAL NOT NULL DEFAULT 0,
    available REAL NOT NULL DEFAULT 0,
    sections TEXT NOT NULL DEFAULT '[]',      -- JSON section subtotals
    scored_at TEXT NOT NULL,
    FOREIGN KEY (transcript_id, transcript_hash) REFERENCES qa_transcripts(id, content_hash)
);
CREATE INDEX IF NOT EXISTS qa_scorecards_transcript ON qa_scorecards(transcript_id, rubric_id, rubric_version);
CREATE INDEX IF NOT EXISTS qa_scorecards_agent ON qa_scorecards(agent, scored_at);
CREATE INDEX IF NOT EXISTS qa_scorecards_rubric ON qa_scorecards(rubric_id, verdict, score);

-- The automatic verdict per criterion, as scored: never updated (reviews go to qa_reviews).
CREATE TABLE IF NOT EXISTS qa_criterion_results (
    scorecard_id INTEGER NOT NULL REFERENCES qa_scorecards(id) ON DELETE CASCADE,
    criterion_id TEXT NOT NULL,
    ord INTEGER NOT NULL DEFAULT 0,
    section_id TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('pass', 'fail', 'na')),
    confidence REAL NOT NULL DEFAULT 1,
    score REAL NOT NULL DEFAULT 0,
    points REAL NOT NULL DEFAULT 0,
    earned REAL NOT NULL DEFAULT 0,
    critical INTEGER NOT NULL DEFAULT 0,
    evidence TEXT NOT NULL DEFAULT '[]',      -- JSON: turn, speaker, start, end, text, matched
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (scorecard_id, criterion_id)
);

-- Human reviews, beside the automatic result: every review is kept, the latest one counts.
CREATE TABLE IF NOT EXISTS qa_reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scorecard_id INTEGER NOT NULL REFERENCES qa_scorecards(id) ON DELETE CASCADE,
    criterion_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('pass', 'fail', 'na')),
    comment TEXT NOT NULL DEFAULT '',
    reviewed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS qa_reviews_card ON qa_reviews(scorecard_id, criterion_id, id);

CREATE TRIGGER IF NOT EXISTS qa_scorecards_frozen BEFORE UPDATE ON qa_scorecards BEGIN SELECT RAISE(ABORT, 'scorecards are never changed: score again, or add a review'); END;
CREATE TRIGGER IF NOT EXISTS qa_criterion_results_frozen BEFORE UPDATE ON qa_criterion_results BEGIN SELECT RAISE(ABORT, 'automatic results are never changed: add a review'); END;
"""


def _analysed_lexical_index(store: Any) -> None:
    """Documents get a language; the lexical index holds the analysed token stream (kb.analysis) instead of
    FTS5's own Porter stemming, so that SQLite and PostgreSQL match the same words."""
    from kb.storage.sql.documents import lexical_columns, row_to_chunk, row_to_document

    store._exec("ALTER TABLE documents ADD COLUMN language TEXT NOT NULL DEFAULT 'en'")
    store._exec("ALTER TABLE document_versions ADD COLUMN language TEXT NOT NULL DEFAULT 'en'")
    store._exec("DROP TABLE IF EXISTS chunks_fts")
    store._exec("CREATE VIRTUAL TABLE chunks_fts USING fts5(title, heading, text, "
                "tokenize = 'unicode61 remove_diacritics 0')")
    store._exec("CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts_vocab USING fts5vocab(chunks_fts, 'row')")
    docs = {r["id"]: row_to_document(r) for r in store._rows("SELECT * FROM documents")}
    rows = []
    for r in store._rows("SELECT * FROM chunks ORDER BY id"):
        ch = row_to_chunk(r)
        rows.append((ch.id, *lexical_columns(docs[ch.doc_id], ch)))
    store._many("INSERT INTO chunks_fts(rowid, title, heading, text) VALUES (?, ?, ?, ?)", rows)


def _lexical_languages(store: Any) -> None:
    """The lexical index records each chunk's language (an unindexed column): a query read in one
    language only matches chunks of documents in that language (kb.analysis.read_query). The analysed
    text is copied as it is; `deskbook index` analyses it again when the recorded analyzer is older."""
    from kb.analysis import ANALYZER_VERSION

    store._exec("DROP TABLE IF EXISTS chunks_fts_vocab")
    store._exec("ALTER TABLE chunks_fts RENAME TO chunks_fts_old")
    store._exec("CREATE VIRTUAL TABLE chunks_fts USING fts5(title, heading, text, lang UNINDEXED, "
                "tokenize = 'unicode61 remove_diacritics 0')")
    store._exec("INSERT INTO chunks_fts(rowid, title, heading, text, lang) SELECT f.rowid, f.title, f.heading, f.text, "
                "d.language FROM chunks_fts_old f JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.doc_id")
    store._exec("DROP TABLE chunks_fts_old")
    store._exec("CREATE VIRTUAL TABLE chunks_fts_vocab USING fts5vocab(chunks_fts, 'row')")
    has_chunks = store._value("SELECT count(*) AS n FROM chunks")
    store.set_meta("lexical_analyzer", "analysis.v1" if has_chunks else ANALYZER_VERSION)


QA_IDEMPOTENCY = """
-- A scorecard stored by a background job carries a key (job, transcript): a retried job stores it once.
ALTER TABLE qa_scorecards ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS qa_scorecards_idempotency ON qa_scorecards(idempotency_key)
    WHERE idempotency_key IS NOT NULL
"""

SESSIONS = """
-- Server-side sign-in sessions (the cookie holds a random id; its SHA-256 is stored): every app server
-- accepts them, and signing out or a password reset ends them everywhere.
CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user_id);
CREATE INDEX IF NOT EXISTS web_sessions_expiry ON web_sessions(expires_at)
"""

JOBS = """
-- Background jobs (imports, QA prescoring, ...): claimed by workers with a lease (epoch seconds).
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,    -- claim order
    id TEXT NOT NULL UNIQUE,                  -- random: it appears in URLs
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',       -- JSON
    owner TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '{}',        -- JSON
    error TEXT,                               -- JSON {code, message}
    claimed_by TEXT NOT NULL DEFAULT '',
    lease_until REAL,
    idempotency_key TEXT UNIQUE,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, kind, seq);
CREATE TABLE IF NOT EXISTS job_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS job_files_job ON job_files(job_id)
"""

LOGIN_FAILURES = """
-- Failed sign-ins by key (the address, and the address with the user name), shared by every app server:
-- password guessing is slowed down per address, and a real user is never locked out from elsewhere.
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures(key, at)
"""

CONVERSATIONS = """
-- Live-assist conversations: turns, the assist state and the latest suggestion (JSON).
CREATE TABLE IF NOT EXISTS assist_conversations (
    id TEXT PRIMARY KEY,
    owner INTEGER,                            -- the user id of who started it
    created_by TEXT NOT NULL DEFAULT '',
    turns TEXT NOT NULL DEFAULT '[]',
    state TEXT,
    suggestion TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    suggestion_revision INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assist_conversations_updated ON assist_conversations(updated_at)
"""

QA_MODELS = """
-- Classifiers learned from the analysts' reviews, per rubric: a candidate until someone adopts or discards
-- it. `rubric_text` is the rubric as scored with the model (the next version number); `learned` the
-- classifier file (qa_rubrics.learned); `report` the cross-validated agreement before and after (JSON).
CREATE TABLE IF NOT EXISTS qa_models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rubric_id TEXT NOT NULL,
    base_hash TEXT NOT NULL,                  -- the rubric file's hash the model was learned for
    version INTEGER NOT NULL,
    rubric_text TEXT NOT NULL,
    learned BLOB,
    report TEXT NOT NULL DEFAULT '{}',
    trained_on INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('candidate', 'adopted', 'discarded', 'superseded')),
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at TEXT
);
CREATE INDEX IF NOT EXISTS qa_models_rubric ON qa_models(rubric_id, status, id)
"""

def _fts_secure_delete(store: Any) -> None:
    """Deleting a row from the lexical index removes its words from the index at once, rather than
    leaving them in the index's segments until a merge (text that was redacted or deleted leaves no
    trace). Needs SQLite 3.42; older SQLite libraries skip it."""
    try:
        store._exec("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('secure-delete', 1)")
    except Exception:  # noqa: BLE001 - an older SQLite without the option
        pass


# The web app's language per user ('' = the browser's Accept-Language decides; else en, de, tr).
USER_LOCALE = """
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT ''
"""

# Documents per language (`lexical_languages`, read by the first search of every process) from an index
# instead of every document: 0.08 s -> 0.009 s at 100,000 tickets.
DOCUMENTS_LANGUAGE = """
CREATE INDEX IF NOT EXISTS documents_language ON documents(language)
"""

ERASURES = """CREATE TABLE IF NOT EXISTS erasures (id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, actor TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '', counts TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS erasures_subject ON erasures(subject)"""

# In order. The vector table depends on the model's dimension and is created by the store when the
# first vectors are written (see SqliteStore._create_vector_table).
MIGRATIONS: list[tuple[str, Any]] = [
    ("kb.0001_core", CORE),
    ("qa.0001_tables", QA),
    ("accounts.0001_users", ACCOUNTS),
    ("querylog.0001_tables", INSIGHTS),
    ("kb.0002_language_analysed_text", _analysed_lexical_index),
    ("qa.0002_idempotency", QA_IDEMPOTENCY),
    ("accounts.0002_sessions", SESSIONS),
    ("jobs.0001_queue", JOBS),
    ("assist.0001_conversations", CONVERSATIONS),
    ("kb.0003_lexical_languages", _lexical_languages),
    ("qa.0003_models", QA_MODELS),
    ("kb.0004_fts_secure_delete", _fts_secure_delete),
    ("accounts.0003_login_failures", LOGIN_FAILURES),
    ("accounts.0004_user_locale", USER_LOCALE),
    ("kb.0005_documents_language", DOCUMENTS_LANGUAGE),
    ("privacy.0001_erasures", ERASURES),  # the erasure record: kb.storage.sql.erasures
]

LEGACY = {"0001_core": "kb.0001_core", "0002_qa": "qa.0001_tables", "0003_accounts": "accounts.0001_users",
          "0004_insights": "querylog.0001_tables"}
