"""Manager pages: the SOP list, the Markdown editor with live preview, version history, diffs,
restore, "mark reviewed", uploads of SOP and ticket files, and the insights reports (content gaps,
ticket coverage, SOP health; see webapp/insights.py). For managers (and admins)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from indexer.readers import SOP_STATUSES
from kb.errors import ConflictError, InputError
from webapp.apispec import int_arg
from webapp.auth import guard_blueprint
from webapp.i18n import ldate
from webapp.insights import (
    chart_panels,
    columns_of,
    csv_response,
    gaps_report,
    health_reports,
    tickets_report,
)
from webapp.render import diff_stats, render_markdown, side_by_side
from webapp.services import services
from webapp.sops import (
    SopForm,
    add_months,
    create_sop,
    get_sop,
    is_overdue,
    mark_reviewed,
    publish_sop,
    restore_version,
    save_sop,
    sop_summary,
)
from webapp.uploads import ALLOWED, start_upload

bp = Blueprint("manager", __name__, url_prefix="/manager")
guard_blueprint(bp, "manager")


@bp.route("/")
def index():
    return redirect(url_for("manager.sop_list"))


@bp.route("/sops")
def sop_list():
    svc = services()
    today = date.today()
    status = request.args.get("status", "")
    text = (request.args.get("q") or "").strip().lower()
    tag = request.args.get("tag", "")
    only_overdue = request.args.get("overdue") == "1"
    rows = [sop_summary(d, today) for d in svc.store.list_documents("sop")]
    n_overdue = sum(1 for r in rows if r["overdue"])
    if status:
        rows = [r for r in rows if r["status"] == status]
    if tag:
        rows = [r for r in rows if tag in r["tags"]]
    if only_overdue:
        rows = [r for r in rows if r["overdue"]]
    if text:
        rows = [r for r in rows if text in r["title"].lower() or text in r["id"].lower() or text in r["owner"].lower()]
    sort = request.args.get("sort", "title")
    keys = {"title": lambda r: r["title"].lower(), "review_by": lambda r: (r["review_by"] or "9999"),
            "updated": lambda r: r["updated_at"], "status": lambda r: (r["status"], r["title"].lower())}
    rows.sort(key=keys.get(sort, keys["title"]), reverse=(sort == "updated"))
    return render_template("manager/sops.html", rows=rows, statuses=SOP_STATUSES, status=status, q=text, tag=tag,
                           only_overdue=only_overdue, n_overdue=n_overdue, sort=sort)


def _empty_form() -> dict:
    return {"id": "", "title": "", "body": "# Title\n\n## Purpose\n\n## Procedure\n1. \n", "owner": "",
            "tags": "", "status": "draft", "review_by": add_months(date.today(), int(services().config.review_months))
            .isoformat(), "note": "", "base_version": 0}


def _form_from_request() -> dict:
    f = request.form
    return {k: f.get(k, "") for k in ("id", "title", "body", "owner", "tags", "status", "review_by", "note")} | {
        "base_version": int_arg(f, "base_version") or 0}


@bp.route("/sops/new", methods=["GET", "POST"])
def sop_new():
    form = _empty_form()
    error = None
    if request.method == "POST":
        form = _form_from_request() | {"status": "draft"}  # a new SOP is a draft until published
        try:
            doc = create_sop(services(), form["id"], SopForm.from_mapping(form), by=current_user.username)
        except (InputError, ConflictError) as exc:
            error = exc
        else:
            flash(_("Created %(id)s as a draft (version %(version)s). Agents see it once you publish it.", id=doc.id,
                    version=doc.version))
            return redirect(url_for("manager.sop_edit", doc_id=doc.id))
    return render_template("manager/edit.html", form=form, doc=None, error=error, statuses=SOP_STATUSES,
                           preview=render_markdown(form["body"])), (400 if error else 200)


@bp.route("/sops/<path:doc_id>/edit", methods=["GET", "POST"])
def sop_edit(doc_id: str):
    svc = services()
    doc = get_sop(svc.store, doc_id)
    error = None
    if request.method == "POST":
        form = _form_from_request()
        try:
            saved = save_sop(svc, doc_id, SopForm.from_mapping(form), by=current_user.username,
                             base_version=form["base_version"])
        except ConflictError:
            return _conflict(doc_id, form)
        except InputError as exc:
            error = exc
        else:
            flash(_("Saved version %(version)s of %(id)s. It is searchable now.", version=saved.version, id=saved.id))
            return redirect(url_for("manager.sop_edit", doc_id=doc_id))
    else:
        form = {"id": doc.id, "title": doc.title, "body": doc.body, "owner": doc.owner, "tags": ", ".join(doc.tags),
                "status": doc.status or "published", "review_by": doc.review_by, "note": "",
                "base_version": doc.version}
    return render_template("manager/edit.html", form=form, doc=doc, error=error, statuses=SOP_STATUSES,
                           preview=render_markdown(form["body"]), overdue=is_overdue(doc.review_by)), (400 if error else 200)


def _conflict(doc_id: str, mine: dict):
    """Someone saved since this edit began: show both texts; the user's text stays in the form."""
    current = get_sop(services().store, doc_id)
    rows = side_by_side(current.body, mine["body"], context=3)
    form = dict(mine, base_version=current.version)
    return render_template("manager/conflict.html", doc=current, mine=mine, form=form, rows=rows,
                           stats=diff_stats(rows), edited_version=mine["base_version"],
                           statuses=SOP_STATUSES), 409


@bp.route("/sops/<path:doc_id>/history")
def sop_history(doc_id: str):
    svc = services()
    doc = get_sop(svc.store, doc_id)
    versions = svc.store.document_versions(doc_id)
    return render_template("manager/history.html", doc=doc, versions=versions)


@bp.route("/sops/<path:doc_id>/versions/<int:version>")
def sop_version(doc_id: str, version: int):
    svc = services()
    doc = get_sop(svc.store, doc_id)
    old = svc.store.get_version(doc_id, version)
    return render_template("manager/version.html", doc=doc, old=old, html=render_markdown(old.body))


@bp.route("/sops/<path:doc_id>/diff")
def sop_diff(doc_id: str):
    svc = services()
    doc = get_sop(svc.store, doc_id)
    versions = svc.store.document_versions(doc_id)
    if not versions:
        abort(404)
    b = int_arg(request.args, "b") or versions[0]["version"]
    a = int_arg(request.args, "a") or (versions[1]["version"] if len(versions) > 1 else b)
    va, vb = svc.store.get_version(doc_id, a), svc.store.get_version(doc_id, b)
    rows = side_by_side(va.body, vb.body)
    return render_template("manager/diff.html", doc=doc, versions=versions, a=a, b=b, va=va, vb=vb, rows=rows,
                           stats=diff_stats(rows), title_changed=va.title != vb.title)


@bp.route("/sops/<path:doc_id>/restore", methods=["POST"])
def sop_restore(doc_id: str):
    version = int_arg(request.form, "version")
    if version is None:
        raise InputError(_("Which version should be restored?"), field="version")
    try:
        doc = restore_version(services(), doc_id, version, by=current_user.username,
                              base_version=int_arg(request.form, "base_version"))
    except ConflictError as exc:
        flash(_("Not restored: %(reason)s. Look at the history again and retry.", reason=exc.message), "error")
        return redirect(url_for("manager.sop_history", doc_id=doc_id))
    flash(_("Restored version %(old)s as version %(new)s. It is searchable now.", old=version, new=doc.version))
    return redirect(url_for("manager.sop_history", doc_id=doc_id))


@bp.route("/sops/<path:doc_id>/publish", methods=["POST"])
def sop_publish(doc_id: str):
    try:
        doc = publish_sop(services(), doc_id, by=current_user.username)
    except ConflictError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Published %(id)s: agents find it and get answers from it now.", id=doc.id))
    back = url_for("manager.sop_list") if request.form.get("back") == "list" else url_for("manager.sop_edit",
                                                                                          doc_id=doc_id)
    return redirect(back)


@bp.route("/sops/<path:doc_id>/review", methods=["POST"])
def sop_review(doc_id: str):
    doc = mark_reviewed(services(), doc_id, by=current_user.username, review_by=request.form.get("review_by", ""))
    flash(_("Marked %(id)s reviewed; next review by %(date)s.", id=doc.id, date=ldate(doc.review_by)))
    back = url_for("manager.sop_list") if request.form.get("back") == "list" else url_for("manager.sop_edit",
                                                                                          doc_id=doc_id)
    return redirect(back)


@bp.route("/uploads", methods=["GET", "POST"])
def uploads():
    svc = services()
    error = None
    if request.method == "POST":
        try:
            job = start_upload(svc, request.files.getlist("files"), by=current_user.username)
        except InputError as exc:  # a PDF, a spreadsheet ...: said on the upload page, with what to do instead
            error = exc
        else:
            flash(_("Upload received: indexing %(files)s in the background.", files=job.title.removeprefix('Upload: ')))
            return redirect(url_for("manager.uploads", job=job.id))
    jobs = svc.jobs.list(kind="index_upload") if current_user.role == "admin" else svc.jobs.list(
        owner=current_user.username, kind="index_upload")
    return render_template("manager/uploads.html", jobs=jobs[:20], allowed=", ".join(ALLOWED), error=error,
                           highlight=request.args.get("job", ""), max_mb=svc.config.upload_max_mb), (400 if error else 200)


# -- insights: content gaps, ticket coverage, SOP health -----------------------------------------
HEALTH_TABLES = ("stale", "duplicates", "contradictions")


@bp.route("/insights")
def insights():
    return redirect(url_for("manager.insights_gaps"))


@bp.route("/insights/gaps")
def insights_gaps():
    report = gaps_report()
    rows = report.rows()
    return render_template("manager/insights_gaps.html", report=report, panels=chart_panels(report), rows=rows,
                           columns=columns_of(rows, "gaps"))


@bp.route("/insights/gaps.csv")
def insights_gaps_csv():
    return csv_response(gaps_report().rows(), "gaps", "deskbook-content-gaps.csv")


@bp.route("/insights/tickets")
def insights_tickets():
    report = tickets_report()
    rows = report.rows()
    return render_template("manager/insights_tickets.html", report=report, panels=chart_panels(report), rows=rows,
                           columns=columns_of(rows, "tickets"))


@bp.route("/insights/tickets.csv")
def insights_tickets_csv():
    return csv_response(tickets_report().rows(), "tickets", "deskbook-ticket-coverage.csv")


@bp.route("/insights/health")
def insights_health():
    reports = health_reports()
    stale = reports["stale"]
    return render_template("manager/insights_health.html", stale=stale, panels=chart_panels(stale),
                           stale_rows=stale.rows(), duplicates=reports["duplicates"],
                           contradictions=reports["contradictions"])


@bp.route("/insights/health.csv")
def insights_health_csv():
    table = request.args.get("table", "stale")
    if table not in HEALTH_TABLES:
        abort(404)
    return csv_response(health_reports()[table].rows(), table, f"deskbook-sop-{table}.csv")
