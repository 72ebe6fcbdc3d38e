"""Agreement with human graders, and per-criterion threshold tuning.

`evaluate(scorecards, labels, rubric)` compares machine and human verdicts per criterion:
support, accuracy, precision / recall / F1 of `pass`, Cohen's kappa over the three results
(pass, fail, na); overall accuracy, mean kappa (criteria where kappa is defined) and the mean
absolute difference between machine and human total scores.

`tune(...)` proposes, per thresholded criterion (semantic, sop_steps, and absent around a
semantic check), the threshold that maximises kappa on the labelled set. A held-out check guards
against over-fitting: k-fold cross-validation (a threshold tuned on the other folds predicts
each fold); a criterion whose cross-validated kappa is not better than the current threshold's
keeps its current threshold. The slope of semantic criteria is then fitted by maximum
likelihood around the chosen threshold.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import InputError
from kb.evaluate import cohen_kappa
from qa_rubrics.criteria import RESULTS
from qa_rubrics.rubric import Rubric
from qa_rubrics.score import Scorecard
from qa_rubrics.totals import Item, total


# -- metrics -------------------------------------------------------------------------------------
def binary_prf(machine: Sequence[str], human: Sequence[str], positive: str = "pass") -> dict[str, float | None]:
    tp = sum(1 for m, h in zip(machine, human, strict=True) if m == positive and h == positive)
    fp = sum(1 for m, h in zip(machine, human, strict=True) if m == positive and h != positive)
    fn = sum(1 for m, h in zip(machine, human, strict=True) if m != positive and h == positive)
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
    return {"precision": p, "recall": r, "f1": f1}


def load_labels(path: str | Path, rubric_id: str | None = None) -> dict[str, dict[str, str]]:
    """transcript id -> {criterion id: pass|fail|na}; lines of other rubrics (rubric_id) are skipped."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"Labels file {p} does not exist", field="labels")
    out: dict[str, dict[str, str]] = {}
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}, line {n}: invalid JSON: {exc.msg}", field="labels") from None
        if not isinstance(rec, dict) or "transcript_id" not in rec or not isinstance(rec.get("criteria"), dict):
            raise InputError(f'{p}, line {n}: expected {{"transcript_id": ..., "criteria": {{"id": "pass|fail|na"}}}}',
                             field="labels")
        if rubric_id and rec.get("rubric_id") not in (None, rubric_id):
            continue
        crit = {}
        for k, v in rec["criteria"].items():
            v = str(v).strip().lower()
            v = {"n/a": "na", "none": "na", "null": "na"}.get(v, v)
            if v not in RESULTS:
                raise InputError(f"{p}, line {n}: criterion '{k}' has the label {v!r}; use pass, fail or na",
                                 field="labels")
            crit[k] = v
        out[str(rec["transcript_id"])] = crit
    return out


def _human_items(rubric: Rubric, labels: dict[str, str]) -> list[Item]:
    return [Item(c.id, c.points, c.critical, labels.get(c.id) or "na") for c in rubric.criteria]


def human_total(rubric: Rubric, labels: dict[str, str]) -> float | None:
    return total(_human_items(rubric, labels), rubric.pass_mark, digits=None).score


@dataclass
class EvalReport:
    criteria: dict[str, dict[str, Any]]
    overall: dict[str, Any]
    missing: list[str] = field(default_factory=list)  # labelled transcripts that were not scored
    unlabelled: list[str] = field(default_factory=list)  # scored transcripts without labels

    def to_dict(self) -> dict[str, Any]:
        return {"criteria": self.criteria, "overall": self.overall,
                **({"missing": self.missing} if self.missing else {}),
                **({"unlabelled": self.unlabelled} if self.unlabelled else {})}


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def evaluate(scorecards: Sequence[Scorecard], labels: dict[str, dict[str, str]], rubric: Rubric) -> EvalReport:
    """Per-criterion and overall agreement of the scorecards with the human labels."""
    by_id = {s.transcript_id: s for s in scorecards}
    common = [t for t in labels if t in by_id]
    per: dict[str, dict[str, Any]] = {}
    all_m: list[str] = []
    all_h: list[str] = []
    kappas = []
    for c in rubric.criteria:
        pairs = [(by_id[t].criterion(c.id).result, labels[t][c.id]) for t in common if c.id in labels[t]]
        m = [p[0] for p in pairs]
        h = [p[1] for p in pairs]
        all_m += m
        all_h += h
        k = cohen_kappa(m, h)
        if k is not None:
            kappas.append(k)
        acc = sum(1 for x, y in pairs if x == y) / len(pairs) if pairs else None
        per[c.id] = {"support": len(pairs), "accuracy": _r(acc), **{k2: _r(v) for k2, v in binary_prf(m, h).items()},
                     "kappa": _r(k), "method": c.check.method,
                     "human": dict(Counter(h)), "machine": dict(Counter(m))}
    diffs = []
    for t in common:
        ht = human_total(rubric, labels[t])
        mt = by_id[t].score
        if ht is not None and mt is not None:
            diffs.append(abs(ht - mt))
    overall = {
        "transcripts": len(common),
        "accuracy": _r(sum(1 for x, y in zip(all_m, all_h, strict=True) if x == y) / len(all_m)) if all_m else None,
        "mean_kappa": _r(sum(kappas) / len(kappas)) if kappas else None,
        "kappa_defined_for": len(kappas),
        "mean_abs_score_diff": _r(sum(diffs) / len(diffs)) if diffs else None,
        "verdict_agreement": _r(sum(1 for t in common if by_id[t].verdict == _human_verdict(rubric, labels[t]))
                                / len(common)) if common else None,
    }
    return EvalReport(per, overall, missing=[t for t in labels if t not in by_id],
                      unlabelled=[t for t in by_id if t not in labels])


def _human_verdict(rubric: Rubric, labels: dict[str, str]) -> str:
    return total(_human_items(rubric, labels), rubric.pass_mark, digits=None).verdict


# -- tuning --------------------------------------------------------------------------------------
def _what_if(crit, card: Scorecard):
    """A function threshold -> result for one criterion of one scorecard, or None if not tunable."""
    r = card.criterion(crit.id)
    if r.result == "na" and crit.check.method_name != "sop_steps":
        return lambda th: "na"
    method = crit.check.method_name
    if method == "semantic":
        raw = r.raw
        return (lambda th: "fail") if raw is None else (lambda th: "pass" if raw >= th else "fail")
    if method == "absent" and crit.check.params["check"].method_name == "semantic":
        raw = r.raw
        return (lambda th: "pass") if raw is None else (lambda th: "fail" if raw >= th else "pass")
    if method == "sop_steps":
        if r.result == "na":
            return lambda th: "na"
        steps = [s for s in r.detail.get("steps", []) if s.get("counted")]
        mf = float(r.detail.get("min_fraction", 0.6))
        sims = [s.get("similarity", -1.0) for s in steps]

        def f(th: float) -> str:
            found = sum(1 for s in sims if s >= th)
            return "pass" if steps and found / len(steps) >= mf else "fail"
        return f
    return None


def _tunable(crit) -> bool:
    """Criteria whose verdict is a threshold on one number: sop_steps, and semantic.v1 (semantic.v2
    criteria learn a classifier instead, see qa_rubrics.learning)."""
    m = crit.check.method_name
    if m == "sop_steps":
        return True
    check = crit.check.params["check"] if m == "absent" else crit.check
    return check.method == "semantic.v1"


def _best_threshold(fns, human, grid) -> tuple[float, float]:
    """(threshold, kappa) maximising kappa; ties go to the threshold in the middle of the best run."""
    scored = []
    for th in grid:
        k = cohen_kappa([f(th) for f in fns], human)
        acc = sum(1 for f, h in zip(fns, human, strict=True) if f(th) == h) / len(human)
        scored.append((th, -1.0 if k is None else k, acc))
    best = max((k, a) for _, k, a in scored)
    run = [th for th, k, a in scored if (k, a) == best]
    return run[len(run) // 2], best[0]


def _fit_slope(raws: list[float], human: list[str], threshold: float, *, absent: bool = False) -> float | None:
    """Maximum-likelihood slope of logistic(slope * (raw - threshold)) for P(found)."""
    ys = [(1.0 if (h == "fail") == absent else 0.0) for h in human]
    pts = [(r, y) for r, y in zip(raws, ys, strict=True) if r is not None]
    if len(pts) < 4 or len({y for _, y in pts}) < 2:
        return None
    best_s, best_ll = None, -math.inf
    for s in [2, 4, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80]:
        ll = 0.0
        for r, y in pts:
            p = 1 / (1 + math.exp(-s * (r - threshold)))
            p = min(max(p, 1e-6), 1 - 1e-6)
            ll += y * math.log(p) + (1 - y) * math.log(1 - p)
        ll -= 0.001 * s * s / 100  # mild preference for gentle slopes
        if ll > best_ll:
            best_s, best_ll = s, ll
    return float(best_s) if best_s is not None else None


def tune(scorecards: Sequence[Scorecard], labels: dict[str, dict[str, str]], rubric: Rubric, scorer_config, *,
         folds: int = 4, grid: Iterable[float] | None = None) -> dict[str, dict[str, Any]]:
    """Per tunable criterion: current and proposed threshold, kappa at each (in-sample and cross-validated).

    `proposed` is None when the held-out check says the change would not help.
    """
    grid = list(grid) if grid is not None else [round(0.20 + 0.01 * i, 2) for i in range(66)]
    by_id = {s.transcript_id: s for s in scorecards}
    common = sorted(t for t in labels if t in by_id)
    out: dict[str, dict[str, Any]] = {}
    for crit in rubric.criteria:
        if not _tunable(crit):
            continue
        items = [(by_id[t], labels[t][crit.id]) for t in common if crit.id in labels[t]]
        if len(items) < 4:
            continue
        check = crit.check if crit.check.method_name != "absent" else crit.check.params["check"]
        current = check.threshold if check.threshold is not None else _default_th(check, scorer_config)
        fns = [_what_if(crit, card) for card, _ in items]
        human = [h for _, h in items]
        cur_k = cohen_kappa([f(current) for f in fns], human)
        th, k_in = _best_threshold(fns, human, grid)
        # held-out check: k-fold, each fold predicted with a threshold tuned on the others
        n = len(items)
        k_folds = max(2, min(folds, n // 2))
        pred_tuned: list[str] = [""] * n
        for f in range(k_folds):
            test_idx = [i for i in range(n) if i % k_folds == f]
            train_idx = [i for i in range(n) if i % k_folds != f]
            th_f, _ = _best_threshold([fns[i] for i in train_idx], [human[i] for i in train_idx], grid)
            for i in test_idx:
                pred_tuned[i] = fns[i](th_f)
        cv_k = cohen_kappa(pred_tuned, human)
        improves = (cv_k if cv_k is not None else -1.0) > (cur_k if cur_k is not None else -1.0) + 1e-9
        entry: dict[str, Any] = {
            "method": crit.check.method, "current": round(current, 3), "kappa_current": _r(cur_k),
            "best": th, "kappa_best_in_sample": _r(k_in), "kappa_cross_validated": _r(cv_k),
            "proposed": th if improves else None, "support": n,
        }
        if check.method_name == "semantic":
            raws = [card.criterion(crit.id).raw for card, _ in items]
            hs = [h for (card, h) in items]
            slope = _fit_slope(raws, hs, th if improves else current, absent=crit.check.method_name == "absent")
            if slope is not None:
                entry["slope"] = slope
        out[crit.id] = entry
    return out


def _default_th(check, config) -> float:
    if check.method_name == "semantic":
        return float(config.qa_semantic_threshold)
    if check.method_name == "sop_steps":
        from kb.scales import configured_model, cosine_setting

        return cosine_setting(config, "qa_step_threshold", configured_model(config))
    return 0.5


def tuned_values(proposals: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """What goes into the tuned rubric copy: per criterion, threshold and slope."""
    out: dict[str, dict[str, float]] = {}
    for cid, p in proposals.items():
        vals: dict[str, float] = {}
        if p.get("proposed") is not None:
            vals["threshold"] = float(p["proposed"])
        if p.get("slope") is not None:
            vals["slope"] = float(p["slope"])
        if vals:
            out[cid] = vals
    return out
