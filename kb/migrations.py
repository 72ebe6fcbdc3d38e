"""Named, ordered schema migrations, recorded in the `schema_migrations` table.

Append new migrations at the end; never edit one that has shipped. A database that records a
migration this code does not know was written by a newer Deskbook and is refused.
"""

from __future__ import annotations

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

# Web app sign-in (kb/accounts.py): users with hashed passwords and roles, API tokens stored hashed.
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

# Manager insights (kb/querylog.py): every search and answer request, clicks and feedback,
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

# (name, sql) in order. The vector table depends on the model's dimension and is created by the
# store when the first vectors are written (see SqliteStore.ensure_vector_table).
MIGRATIONS: list[tuple[str, str]] = [
    ("0001_core", CORE),
    ("0002_qa", QA),
    ("0003_accounts", ACCOUNTS),
    ("0004_insights", INSIGHTS),
]
