"""QA rubric scoring: parse transcripts, redact them, score them against YAML rubrics, store the
scorecards, and measure agreement with human graders.

    transcripts.py   reading transcripts (the model, `Transcript` and `Turn`, is kb.transcript)
    formats.py       the file formats: JSON, JSONL, "Speaker: text", WebVTT
    conversation.py  a transcript prepared once for scoring: redaction, sentences, lemmas, vectors
    phrases.py       rubric phrases (examples, keywords) prepared and embedded once
    rubric.py        rubrics: loading, checks, tuned copies; rubric_schema.py validates them
                     (errors name file, line and field)
    criteria/        one evaluator per method, registered under versioned names
    score.py         scorecards: criterion results, section subtotals, total and verdict
    totals.py        the one rule for a total and a verdict (automatic, reviewed, human labels)
    scorecards.py    stored scorecards with their reviewed totals
    calibrate.py     agreement with human labels (Cohen's kappa ...) and threshold tuning
    batch.py         the work behind `deskbook qa score` and `deskbook qa eval`
    jobs.py          the `qa_score` background job (prescoring imports, stored once per transcript)
    cli.py           `deskbook qa score`, `deskbook qa eval`, `deskbook qa validate`
"""
