"""QA learning pages: retrain a rubric's classifiers from the analysts' reviews, then adopt or discard.

For analysts and managers. One page per the rubrics in `rubrics_dir`: what scoring uses now (the
file, or the model adopted for it), how many reviewed conversations there are per criterion, a
"Retrain from reviews" action (a `qa_retrain` background job), and the learned models with their
agreement before and after (cross-validated) per criterion, each to adopt or discard. Adopting
changes what new scorecards are scored with; existing scorecards keep their rubric version.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kb.errors import InputError
from webapp.auth import guard_blueprint
from webapp.qa import find_rubric, list_rubrics
from webapp.services import services

bp = Blueprint("qa_learning", __name__, url_prefix="/qa/learning")
guard_blueprint(bp, "qa_learning")


def rubric_status(svc, info) -> dict[str, Any]:
    """What one rubric's learning looks like: active version, reviews per criterion, models."""
    from qa_rubrics.retrain import active_rubric
    from qa_rubrics.rubric import load_rubric

    rubric = load_rubric(info.path)
    active = active_rubric(svc.store, rubric)
    labelled = svc.store.review_labels(rubric.id)
    per: dict[str, dict[str, int]] = {c.id: {"pass": 0, "fail": 0, "na": 0} for c in rubric.criteria}
    for item in labelled:
        for cid, result in item["labels"].items():
            if cid in per and result in per[cid]:
                per[cid][result] += 1
    models = svc.store.list_qa_models(rubric.id)
    for m in models:
        m["stale"] = m["base_hash"] != rubric.hash
    return {"info": info, "rubric": rubric, "active": active, "reviewed": len(labelled), "per_criterion": per,
            "methods": {c.id: c.check.method for c in rubric.criteria}, "models": models}


def start_retrain(svc, rubric_id: str, *, by: str):
    info = find_rubric(svc.config, rubric_id)
    from pathlib import Path

    payload = {"rubric_id": info.id, "rubric_name": Path(info.path).name,
               "rubric_text": Path(info.path).read_text(encoding="utf-8")}
    return svc.jobs.submit("qa_retrain", by, f"Retrain {info.id} from the reviews", payload)


@bp.route("/")
def page():
    svc = services()
    rubrics = [rubric_status(svc, r) for r in list_rubrics(svc.config) if not r.error]
    jobs = svc.jobs.list(kind="qa_retrain")[:10]
    return render_template("analyst/learning.html", rubrics=rubrics, jobs=jobs,
                           highlight=request.args.get("job", ""))


@bp.route("/<rubric_id>/retrain", methods=["POST"])
def retrain(rubric_id: str):
    job = start_retrain(services(), rubric_id, by=current_user.username)
    flash(_("Retraining %(rubric)s from its reviews in the background; the new model appears below when it is "
            "done.", rubric=rubric_id))
    return redirect(url_for("qa_learning.page", job=job.id))


@bp.route("/models/<int:model_id>/<decision>", methods=["POST"])
def decide(model_id: int, decision: str):
    if decision not in ("adopt", "discard"):
        raise InputError(f"Unknown decision {decision!r}", hint="adopt or discard", field="decision")
    m = services().store.decide_qa_model(model_id, "adopted" if decision == "adopt" else "discarded",
                                         by=current_user.username)
    if m["status"] == "adopted":
        flash(_("%(rubric)s v%(version)s adopted: new scorecards are scored with it; existing ones keep their "
                "version.", rubric=m["rubric_id"], version=m["version"]))
    else:
        flash(_("%(rubric)s v%(version)s %(status)s.", rubric=m["rubric_id"], version=m["version"],
                status=_(m["status"])))
    return redirect(url_for("qa_learning.page") + f"#rubric-{m['rubric_id']}")
