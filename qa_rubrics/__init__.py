"""QA rubric scoring: parse transcripts, redact them, score them against YAML rubrics, store the
scorecards, and measure agreement with human graders.

    transcripts.py  formats (JSON, JSONL, "Speaker: text", WebVTT) -> Transcript
    conversation.py a transcript prepared once for scoring: redaction, sentences, lemmas, vectors
    rubric.py       rubric schema, loading and validation (errors name file, line and field)
    criteria/       one evaluator per method, registered under versioned names
    score.py        scorecards: criterion results, section subtotals, total and verdict
    calibrate.py    agreement with human labels (Cohen's kappa ...) and threshold tuning
    cli.py          `deskbook qa score` and `deskbook qa eval`
"""
