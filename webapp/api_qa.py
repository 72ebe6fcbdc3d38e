"""QA routes of the JSON API: rubrics, transcript import and scoring (background jobs), scorecards,
reviews beside the automatic results, and the CSV export. Declared on the same registry as the
rest of the API (webapp.api), so they are checked and documented the same way."""

from __future__ import annotations

from flask import Response, g, jsonify, request
from flask_login import current_user

from webapp.api import api, created
from webapp.apispec import Param
from webapp.qa import erase_transcript, export_csv, list_rubrics, start_import, start_scoring_json
from webapp.schemas import SCHEMAS, array, ref
from webapp.services import services

ANALYSTS = ("analyst",)
FILTERS = [Param("agent"), Param("rubric"), Param("verdict", enum=("pass", "fail", "na")),
           Param("since", help="call date from (YYYY-MM-DD)"), Param("until", help="call date to (YYYY-MM-DD)")]

SCHEMAS.update({
    "Rubric": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                "version": {"type": "integer"}, "path": {"type": "string"},
                                                "criteria": {"type": "integer"}, "error": {"type": "string"}}},
    "ScoreRequest": {"type": "object", "required": ["rubric", "transcripts"], "properties": {
        "rubric": {"type": "string", "description": "a rubric id (GET /api/v1/qa/rubrics)"},
        "transcripts": {"type": "array", "minItems": 1, "maxItems": 5000, "items": {
            "type": "object", "required": ["turns"], "description": "the JSON transcript format",
            "properties": {"id": {"type": "string"}, "agent": {"type": "string"}, "started_at": {"type": "string"},
                           "channel": {"type": "string"}, "turns": {"type": "array", "items": {
                               "type": "object", "required": ["speaker", "text"],
                               "properties": {"speaker": {"type": "string"}, "text": {"type": "string"},
                                              "start": {"type": "number"}, "end": {"type": "number"}}}}}}}}},
    "ScorecardSummary": {"type": "object", "properties": {
        "id": {"type": "integer"}, "transcript_id": {"type": "string"}, "rubric_id": {"type": "string"},
        "rubric_version": {"type": "integer"}, "agent": {"type": "string"}, "channel": {"type": "string"},
        "started_at": {"type": "string"}, "scored_at": {"type": "string"}, "score": {"type": "number", "nullable": True},
        "verdict": {"type": "string"}, "reviews": {"type": "integer"},
        "needs_review": {"type": "integer", "description": "unreviewed verdicts under qa_review_confidence"}}},
    "Evidence": {"type": "object", "properties": {
        "turn": {"type": "integer"}, "speaker": {"type": "string"}, "start": {"type": "integer"},
        "end": {"type": "integer"}, "text": {"type": "string"}, "matched": {"type": "string"},
        "similarity": {"type": "number"}}},
    "HumanReview": {"type": "object", "properties": {
        "id": {"type": "integer"}, "criterion_id": {"type": "string"}, "reviewer": {"type": "string"},
        "result": {"type": "string"}, "comment": {"type": "string"}, "reviewed_at": {"type": "string"}}},
    "Scorecard": {"type": "object", "properties": {
        "id": {"type": "integer"}, "transcript_id": {"type": "string"}, "rubric_id": {"type": "string"},
        "rubric_version": {"type": "integer"}, "score": {"type": "number", "nullable": True},
        "verdict": {"type": "string"}, "reason": {"type": "string"},
        "reviewed_score": {"type": "number", "nullable": True}, "reviewed_verdict": {"type": "string", "nullable": True},
        "turns": array({"type": "object"}),
        "criteria": array({"type": "object", "properties": {
            "id": {"type": "string"}, "result": {"type": "string", "description": "the automatic result (never changed)"},
            "confidence": {"type": "number"}, "evidence": array(ref("Evidence")),
            "human_result": {"type": "string", "nullable": True}, "reviews": array(ref("HumanReview"))}})}},
    "Erasure": {"type": "object", "properties": {
        "transcripts": {"type": "integer", "description": "stored contents removed (a re-import adds one)"},
        "scorecards": {"type": "integer"}, "reviews": {"type": "integer"}}},
    "ReviewRequest": {"type": "object", "required": ["criterion_id", "result"], "properties": {
        "criterion_id": {"type": "string"}, "result": {"type": "string", "enum": ["pass", "fail", "na"]},
        "comment": {"type": "string", "maxLength": 5000}}},
})


@api.route("/qa/rubrics", summary="Rubrics analysts can score with", roles=ANALYSTS, tag="qa", response=array(ref("Rubric")))
def qa_rubrics():
    return jsonify([r.to_dict() for r in list_rubrics(services().config)])


@api.route("/qa/transcripts", "POST", summary="Import transcript files and prescore them in the background",
           roles=ANALYSTS, tag="qa", status=202, response=ref("Job"), errors=(404,),
           body={"multipart": {"type": "object", "required": ["files", "rubric"], "properties": {
               "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
               "rubric": {"type": "string"},
               "agent": {"type": "string", "description": "for files that name no agent"},
               "channel": {"type": "string"}, "date": {"type": "string", "description": "YYYY-MM-DD or ISO 8601"},
               "customer": {"type": "string", "description": "the customer's name: redacted, never stored"}}}})
def qa_import():
    from webapp.qa import import_defaults

    job, problems = start_import(services(), request.files.getlist("files"), request.form.get("rubric", ""),
                                 by=current_user.username, defaults=import_defaults(request.form))
    return created({**job.to_dict(), "problems": problems}, 202)


@api.route("/qa/score", "POST", summary="Score transcripts sent as JSON in the background", roles=ANALYSTS, tag="qa",
           body=ref("ScoreRequest"), status=202, response=ref("Job"), errors=(404,))
def qa_score():
    job = start_scoring_json(services(), g.body["transcripts"], g.body["rubric"], by=current_user.username)
    return created(job.to_dict(), 202)


@api.route("/qa/scorecards", summary="The review queue: scorecards, filtered, lowest scores first by default",
           roles=ANALYSTS, tag="qa", response=array(ref("ScorecardSummary")),
           params=[*FILTERS, Param("order", enum=("score", "-score", "scored_at", "-scored_at", "review"), default="score",
                                   help="review: scorecards with the most unsure, unreviewed verdicts first"),
                   Param("all", "boolean", default=False, help="every scoring, not only the latest per transcript"),
                   Param("limit", "integer", default=50, minimum=1, maximum=1000),
                   Param("offset", "integer", default=0, minimum=0)])
def qa_scorecards():
    p = g.params
    filters = {k: p[k] for k in ("agent", "rubric", "verdict", "since", "until") if p[k]}
    svc = services()
    return jsonify(svc.store.list_scorecards(**filters, latest_only=not p["all"], order=p["order"],
                                             limit=p["limit"], offset=p["offset"],
                                             review_confidence=float(svc.config.qa_review_confidence)))


@api.route("/qa/scorecards/<int:scorecard_id>", summary="One scorecard: transcript, auto results, evidence, reviews",
           roles=ANALYSTS, tag="qa", response=ref("Scorecard"), errors=(404,))
def qa_scorecard(scorecard_id: int):
    from qa_rubrics.scorecards import get_scorecard

    return jsonify(get_scorecard(services().store, scorecard_id))


@api.route("/qa/scorecards/<int:scorecard_id>/reviews", "POST",
           summary="Confirm or override one criterion (stored beside the automatic result)", roles=ANALYSTS,
           tag="qa", body=ref("ReviewRequest"), response=ref("HumanReview"), status=201, errors=(404,))
def qa_review(scorecard_id: int):
    b = g.body
    return created(services().store.add_review(scorecard_id, b["criterion_id"], reviewer=current_user.username,
                              result=b["result"], comment=b.get("comment", "")))


@api.route("/qa/transcripts/<path:transcript_id>", "DELETE",
           summary="Remove a transcript with every scorecard scored on it and their reviews (an erasure request)",
           roles=("admin",), tag="qa", response=ref("Erasure"), errors=(404,))
def qa_erase(transcript_id: str):
    """Every stored content of the transcript goes, with its scorecards, automatic results and reviews; as
    `deskbook qa delete ID`. Admins only."""
    return jsonify(erase_transcript(services().store, transcript_id, current_user.username))


@api.route("/qa/export.csv", summary="Auto and human results per criterion, as CSV", roles=ANALYSTS, tag="qa",
           params=FILTERS, response={"type": "string"}, content_type="text/csv")
def qa_export():
    p = g.params
    filters = {k: p[k] for k in ("agent", "rubric", "verdict", "since", "until") if p[k]}
    return Response(export_csv(services().store, **filters), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=deskbook-qa-scores.csv"})


LEARNERS = ("analyst", "manager")
SCHEMAS.update({
    "LearnedModel": {"type": "object", "properties": {
        "id": {"type": "integer"}, "rubric_id": {"type": "string"}, "version": {"type": "integer"},
        "status": {"type": "string", "enum": ["candidate", "adopted", "discarded", "superseded"]},
        "trained_on": {"type": "integer"}, "created_by": {"type": "string"}, "created_at": {"type": "string"},
        "decided_by": {"type": "string"}, "decided_at": {"type": "string", "nullable": True},
        "report": {"type": "object", "description": "per criterion: support, passes, fails, kappa_before, "
                                                    "kappa_after (cross-validated), adopted, reason"}}},
})


@api.route("/qa/models", summary="Classifiers learned from reviews, newest first", roles=LEARNERS, tag="qa",
           params=[Param("rubric", help="a rubric id")], response=array(ref("LearnedModel")))
def qa_models():
    return jsonify(services().store.list_qa_models(g.params["rubric"] or None))


@api.route("/qa/rubrics/<rubric_id>/retrain", "POST",
           summary="Learn from the stored reviews of a rubric in the background (a candidate model to adopt or discard)",
           roles=LEARNERS, tag="qa", status=202, response=ref("Job"), errors=(404,))
def qa_retrain(rubric_id: str):
    from webapp.qa_learning import start_retrain

    return created(start_retrain(services(), rubric_id, by=current_user.username).to_dict(), 202)


@api.route("/qa/models/<int:model_id>/<decision>", "POST", summary="Adopt or discard a candidate model",
           roles=LEARNERS, tag="qa", response=ref("LearnedModel"), errors=(404,))
def qa_decide(model_id: int, decision: str):
    from kb.errors import InputError

    if decision not in ("adopt", "discard"):
        raise InputError(f"Unknown decision {decision!r}", hint="adopt or discard", field="decision")
    return jsonify(services().store.decide_qa_model(model_id, "adopted" if decision == "adopt" else "discarded",
                                                    by=current_user.username))
