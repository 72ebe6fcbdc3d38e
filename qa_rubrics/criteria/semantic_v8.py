"""`semantic` (v8): v7, and answers to the customer's own questions set aside where the question asks for a
failure notice.

"Did the agent tell the customer that the request could not be completed?" v7's classifier passes what
reads like a failure notice: a negation, "not available". The customer's own questions about the thing
get answers worded the same way ("Does it have wifi?" "They do not have wifi."), and nothing the
customer asked for failed. v8 keeps everything v7 does and sets such answers aside
(`qa_rubrics.answers_asked`): a sentence that answers a question about a fact in the customer's turn
just before (it repeats a word of it, the question asks for no action, and the sentence tells of no
failed attempt) has its probability capped below the threshold.

- `ignores: [answers]`: set them aside for any question; `ignores: []`: never.
- Without `ignores`, a question that asks whether the agent told the customer the request could not be
  completed, failed or was unsuccessful ("could not be completed", "nicht möglich", "tamamlanamadığını")
  sets them aside.

A fail the setting-aside decided says so in its reason ("set aside: turn 8 answers the customer's own
question") and in `detail.set_aside`, with each sentence's probability before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qa_rubrics.answers_asked import ANSWERS, answers_asked, asks_for_failure
from qa_rubrics.criteria import FieldSpec, Method, register
from qa_rubrics.criteria.semantic_v2 import DEFAULT_THRESHOLD
from qa_rubrics.criteria.semantic_v4 import rule_setting
from qa_rubrics.criteria.semantic_v7 import METHOD as V7

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from qa_rubrics.conversation import Conversation
    from qa_rubrics.rubric import Check


def answers_set_aside(check: Check, conv: Conversation, units: Sequence[int]) -> np.ndarray | None:
    """Which units are answers to the customer's own questions, where the question asks for a failure
    notice or the rubric says `ignores: [answers]`; None when the check sets none aside."""
    if ANSWERS not in rule_setting(check, "ignores", asks_for_failure, ANSWERS)[0]:
        return None
    return np.array([answers_asked(conv, int(u)) for u in units], dtype=bool)


METHOD = register(Method(
    name="semantic", version=8, evaluate=V7.evaluate, default_threshold=DEFAULT_THRESHOLD,
    fields=(*V7.fields,
            FieldSpec("ignores", "choices", help="what does not count however it reads: answers (an agent "
                      "sentence that answers the customer's own question about a fact, with no failed attempt "
                      "in it); [] for nothing (a question that asks whether the agent said the request could not "
                      "be completed ignores answers otherwise)", choices=(ANSWERS,))),
    help="v7, and answers to the customer's own questions set aside where the criterion asks for a failure "
         "notice", rule_verdict=V7.rule_verdict, rule_teaches=V7.rule_teaches, sets_aside=answers_set_aside))
