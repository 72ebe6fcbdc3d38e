"""QA analyst pages: import transcripts, prescore them against a rubric in the background, the
review queue, the review screen (evidence highlighted in place, confirm/override per criterion)
and the CSV export. For analysts (and admins)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kb.errors import InputError
from kb.storage.records import SCORECARD_ORDERS
from qa_rubrics.scorecards import get_scorecard
from webapp.apispec import int_arg
from webapp.auth import guard_blueprint
from webapp.qa import (
    TRANSCRIPT_SUFFIXES,
    erase_transcript,
    export_csv,
    import_defaults,
    list_rubrics,
    review_filters,
    review_spans,
    start_import,
)
from webapp.render import highlight_text
from webapp.services import services

bp = Blueprint("analyst", __name__, url_prefix="/qa")
guard_blueprint(bp, "analyst")
PAGE = 50


@bp.route("/")
def queue():
    svc = services()
    error = None
    try:
        filters = review_filters(request.args)
    except InputError as exc:
        filters, error = {}, exc
    order = request.args.get("order", "score")
    order = order if order in SCORECARD_ORDERS else "score"
    show_all = request.args.get("all") == "1"
    page = max(1, int_arg(request.args, "page", 1, lo=1, hi=100000))
    rows = svc.store.list_scorecards(**filters, latest_only=not show_all, order=order, limit=PAGE + 1,
                                     offset=(page - 1) * PAGE,
                                     review_confidence=float(svc.config.qa_review_confidence))
    more = len(rows) > PAGE
    known = svc.store.list_scorecards(latest_only=True, limit=5000)
    agents = sorted({r["agent"] for r in known if r["agent"]})
    rubrics = sorted({r["rubric_id"] for r in known})
    return render_template("analyst/queue.html", rows=rows[:PAGE], filters=filters, order=order, show_all=show_all,
                           page=page, more=more, agents=agents, rubrics=rubrics, error=error,
                           jobs=svc.jobs.list(kind="qa_score")[:5])


@bp.route("/import", methods=["GET", "POST"])
def import_page():
    svc = services()
    rubrics = list_rubrics(svc.config)
    error = None
    if request.method == "POST":
        try:
            job, problems = start_import(svc, request.files.getlist("files"), request.form.get("rubric", ""),
                                         by=current_user.username, defaults=import_defaults(request.form))
        except InputError as exc:
            error = exc
        else:
            flash(_("Received: %(title)s. Prescoring in the background.", title=job.title))
            for p in problems[:10]:
                flash(_("Skipped: %(problem)s", problem=p))
            return redirect(url_for("analyst.import_page", job=job.id))
    jobs = svc.jobs.list(kind="qa_score") if current_user.role == "admin" else svc.jobs.list(
        owner=current_user.username, kind="qa_score")
    return render_template("analyst/import.html", rubrics=rubrics, jobs=jobs[:20], error=error, form=request.form,
                           suffixes=", ".join(TRANSCRIPT_SUFFIXES), highlight=request.args.get("job", ""),
                           rubrics_dir=svc.config.rubrics_dir), (400 if error else 200)


@bp.route("/reviews/<int:scorecard_id>")
def review(scorecard_id: int):
    card = get_scorecard(services().store, scorecard_id)
    spans = review_spans(card)
    turns = [{"speaker": t.get("speaker", ""), "html": highlight_text(t.get("text", ""), spans.get(i, [])),
              "start": t.get("start")} for i, t in enumerate(card["turns"])]
    return render_template("analyst/review.html", card=card, turns=turns,
                           review_confidence=float(services().config.qa_review_confidence))


@bp.route("/reviews/<int:scorecard_id>/criteria/<criterion_id>", methods=["POST"])
def review_criterion(scorecard_id: int, criterion_id: str):
    store = services().store
    result = request.form.get("result", "")
    if request.form.get("action") == "confirm":
        card = get_scorecard(store, scorecard_id)
        auto = next((c["result"] for c in card["criteria"] if c["id"] == criterion_id), None)
        if auto is None:
            raise InputError(f"Scorecard {scorecard_id} has no criterion {criterion_id!r}", field="criterion")
        result = auto
    store.add_review(scorecard_id, criterion_id, reviewer=current_user.username, result=result,
               comment=request.form.get("comment", "").strip())
    flash(_("Saved your review of %(criterion)s: %(result)s.", criterion=criterion_id, result=_(result)))
    return redirect(url_for("analyst.review", scorecard_id=scorecard_id) + f"#crit-{criterion_id}")


@bp.route("/transcripts/<path:transcript_id>/delete", methods=["POST"])
def delete_transcript(transcript_id: str):
    """A customer's erasure request (admins only): the transcript, every scorecard scored on it, its reviews."""
    if current_user.role != "admin":
        abort(403, description=_("Only an admin may remove a transcript."))
    out = erase_transcript(services().store, transcript_id, current_user.username)
    flash(_("Removed transcript %(id)s with %(cards)s scorecard(s) and %(reviews)s review(s).", id=transcript_id,
            cards=out["scorecards"], reviews=out["reviews"]))
    return redirect(url_for("analyst.queue"))


@bp.route("/export.csv")
def export():
    filters = review_filters(request.args)
    body = export_csv(services().store, **filters)
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=deskbook-qa-scores.csv"})
