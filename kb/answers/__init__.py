"""Suggested answers (a package: `model`, `units`, `ranking`, `compose`, `engine`, `evaluate`): short answers built only from the knowledge base, each sentence traced to its source.

The extractive engine (the default, offline):

1. One query embedding, shared by everything below, and one hybrid search (`kb.search`).
2. The main SOP. Candidates are the SOPs nearest by their best chunk (an exact scan of the SOP
   chunk vectors, which are few) and by hybrid rank. Each candidate is scored by its best chunk
   cosine, its best sentence/step cosine, its hybrid rank, the share of the question's words it
   contains, and the most similar past ticket that is nearest to it (`RANK_WEIGHTS`).
3. The answer. In the main SOP, the section(s) nearest the question; in them, the sentences and
   numbered steps nearest the question, redundancy removed (MMR), in their original order, steps
   with their own numbers; then a sentence from the resolution of the most similar past ticket.
   Every sentence is a verbatim slice of its source's text: nothing is invented.
4. Confidence: a logistic model over the retrieval evidence (best sentence cosine, the margin of
   the main SOP over the next one, the share of the question's words found in it or in the most
   similar past tickets, the question's length, the past tickets nearest to it), fitted on the
   dev queries plus out-of-scope questions (`bench/bench_answers.py calibrate`), so that it reads as
   the probability that the main source is the right one. Below `answer_threshold` the answer
   abstains and lists the closest procedures instead.

Sentence and step vectors are cached by text hash, in memory and in a file beside the database
(`<db>.answers.npz`, see `kb.storage.derived_path`; derived and rebuildable), so SOP text is embedded once, not per answer. Past
tickets' sentences are not embedded at answer time: a ticket's stored chunk vector stands for its
sentences, and word overlap with the question picks among them.
"""

from kb.answers.casefree import case_details, ticket_names
from kb.answers.engine import ENGINES, SEARCH_K, Answerer, get_answerer
from kb.answers.evaluate import (
    evaluate_answers,
    normalized,
    outcome_rates,
    reliability,
    threshold_sweep,
    visible_relevant,
)
from kb.answers.model import (
    ENGINE,
    Answer,
    AnswerSentence,
    ChecklistItem,
    Citation,
    Passage,
    Source,
    confidence_label,
    percent_ceil,
    percent_floor,
)
from kb.answers.ranking import (
    CONFIDENCE_MODEL,
    CONFIDENCE_MODELS,
    N_CANDIDATES,
    confidence,
    confidence_model_for,
    load_confidence_model,
)
from kb.answers.units import Unit, VectorCache, sop_units, ticket_units
from kb.answers.wording import plain, split_step

__all__ = ["CONFIDENCE_MODEL", "CONFIDENCE_MODELS", "ENGINE", "ENGINES", "N_CANDIDATES", "SEARCH_K",
           "Answer", "AnswerSentence", "Answerer", "ChecklistItem", "Citation", "Passage", "Source",
           "Unit", "VectorCache", "case_details", "confidence", "confidence_label", "confidence_model_for",
           "evaluate_answers", "get_answerer", "load_confidence_model", "normalized", "outcome_rates",
           "percent_ceil", "percent_floor", "plain", "reliability", "sop_units", "split_step",
           "threshold_sweep", "ticket_names", "ticket_units", "visible_relevant"]
