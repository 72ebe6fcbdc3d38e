"""The settings of manager insights (query log, content gaps, ticket coverage, SOP health, QA dashboard).

One module, imported by `kb.cli` (through `kb.cli_reports`) and by every insights module, so
that these names are known to `load_config` (a settings file naming one is accepted) whichever
part of Deskbook starts first. The QA dashboard's settings are here too: they are only names and
defaults, and `kb` must not import `qa_rubrics`.
"""

from __future__ import annotations

from kb.config import Setting, register_settings

INSIGHTS_SETTINGS = (
    # query log (kb.querylog)
    Setting("querylog_enabled", True, "Log every search and answer request (redacted query, results, scores, "
            "feedback) for the manager insights reports."),
    Setting("querylog_retention_days", 365, "Query-log rows, feedback and SOP views older than this many days are "
            "removed by `deskbook report purge` (0 = keep everything)."),
    Setting("querylog_results", 5, "Results kept per logged request (id, type and scores of the best ones)."),
    Setting("querylog_redact_names", True, "Also redact person names (spaCy NER) from logged queries; card numbers, "
            "e-mail addresses, phone numbers and IBANs are always redacted."),
    # content gaps and ticket coverage (kb.insights)
    Setting("gap_days", 90, "Content gaps: the default window of logged requests, in days (`--days` overrides it)."),
    Setting("gap_score_threshold", 0.4, "Content gaps: a request whose best result's cosine similarity is below this "
            "counts as failed (all-MiniLM-L6-v2 scale: 5% of answerable sample queries score below 0.43; set it "
            "for another model)."),
    Setting("gap_min_cluster_size", 3, "Content gaps and ticket coverage: smallest group reported (failed requests or "
            "tickets)."),
    Setting("cluster_similarity", 0.0, "Grouping by meaning: average-linkage cosine similarity at which groups are "
            "cut; 0 = chosen from the data by silhouette (see docs/insights.md)."),
    Setting("ticket_coverage_threshold", 0.45, "Ticket coverage: a group of similar tickets whose median best "
            "SOP-section cosine similarity is below this is a proposed SOP topic (all-MiniLM-L6-v2 scale: a quarter of "
            "the sample tickets score below 0.52); tickets up to 0.1 above it are grouped."),
    # SOP health (kb.insights_health)
    Setting("stale_days", 90, "SOP health: SOPs not opened in this many days are listed as unused (needs view "
            "logging; `--days` overrides it)."),
    Setting("near_duplicate_threshold", 0.9, "SOP health: sections of two SOPs with at least this cosine similarity "
            "are near-duplicates."),
    Setting("contradiction_similarity", 0.6, "SOP health: sections of two SOPs with at least this cosine similarity "
            "are compared sentence by sentence for contradictions."),
    Setting("contradiction_sentence_similarity", 0.7, "SOP health: sentences of two similar sections with at least "
            "this cosine similarity that differ in a number, amount, duration or yes/no rule are possible "
            "contradictions."),
    # QA dashboard (qa_rubrics.insights)
    Setting("teams", [], "QA dashboard: agents' teams, as 'Agent name=Team' (comma-separated in DESKBOOK_TEAMS); "
            "agents not listed are in team '(none)'."),
    Setting("kappa_flag_threshold", 0.6, "QA dashboard: a criterion whose machine-human Cohen's kappa is below this "
            "is flagged for human scoring."),
    Setting("kappa_min_reviews", 5, "QA dashboard: reviewed calls a criterion needs before its kappa is judged."),
    Setting("qa_dashboard_days", 90, "QA dashboard: default window of calls, in days (`--days` overrides it)."),
)

register_settings(*INSIGHTS_SETTINGS)
