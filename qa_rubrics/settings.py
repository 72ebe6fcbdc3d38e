"""The QA settings, added to Deskbook's one settings table (see kb.config)."""

from __future__ import annotations

from kb.config import Setting, register_settings

QA_SETTINGS = (
    Setting("redact_pii", True,
            "Replace card numbers, e-mail addresses, phone numbers, IBANs and person names in transcripts with "
            "[CARD], [EMAIL], [PHONE], [IBAN], [NAME] before anything is stored or shown."),
    Setting("store_original_text", False,
            "Also store the unredacted transcript text in the database (off: only the redacted text is kept)."),
    Setting("redact_keep", [],
            "Words never redacted as person names (brand and product names the NER model mistakes for people), "
            "e.g. 'Brightcart'."),
    Setting("speaker_aliases", [],
            "Extra speaker labels and their roles, as 'Label=agent' or 'Label=customer' (comma-separated in "
            "DESKBOOK_SPEAKER_ALIASES). Added to the built-in aliases (Agent, Rep, Advisor, Customer, Caller, "
            "Client, Kunde ...)."),
    Setting("qa_semantic_threshold", 0.55,
            "Default threshold of `semantic` criteria that set none (similarity of the best sentence, after "
            "the counter-example, question and negation adjustments)."),
    Setting("qa_semantic_slope", 20.0,
            "Steepness of the logistic curve that turns a semantic similarity into a score between 0 and 1 "
            "(score 0.5 at the threshold); `deskbook qa eval --tune` fits it per criterion."),
    Setting("qa_sop_min_similarity", 0.35,
            "`sop_steps` without `sop:`: the best SOP found from the customer's turns must reach this cosine "
            "similarity, otherwise the criterion is N/A."),
    Setting("qa_step_threshold", 0.5,
            "`sop_steps`: default match score (similarity plus keyword overlap) at which an SOP step counts as "
            "done by an agent sentence."),
)

register_settings(*QA_SETTINGS)
