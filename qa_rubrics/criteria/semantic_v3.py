"""`semantic` (v3): v2's classifier, reading each sentence's character n-grams beside its embedding.

Everything v2 does (`qa_rubrics.criteria.semantic_v2`: units, threshold, evidence, the example and
counter-example rules, confidence) stays; the classifier's features grow by the sentence's
character 2-4-grams, hashed (`qa_rubrics.classifier.char_grams`), in the zero-shot prior (examples
and the sentence bank) and in what is learned from reviews. A sentence model blurs surface cues that
graders go by and reviews teach quickly: a signature ("^JS"), "DM us", "tysm", a reference read back.

Measured (docs/qa.md): chosen on sgd-qa (dev), confirmed on the held-out social threads, where
zero-shot kappa went 0.61 -> 0.64 and learning from 40 threads 0.68 -> 0.74.
"""

from __future__ import annotations

from qa_rubrics.criteria import Method, register
from qa_rubrics.criteria.semantic_v2 import DEFAULT_THRESHOLD, evaluate
from qa_rubrics.criteria.semantic_v2 import METHOD as V2

METHOD = register(Method(
    name="semantic", version=3, evaluate=evaluate, default_threshold=DEFAULT_THRESHOLD, fields=V2.fields,
    help="a classifier trained on the examples (and on reviews) finds a sentence that says what they say, "
         "by its meaning and its wording"))
