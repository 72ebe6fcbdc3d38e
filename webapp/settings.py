"""The web app's settings, added to Deskbook's one settings table (see kb.config)."""

from __future__ import annotations

from kb.config import Setting, register_settings

WEB_SETTINGS = (
    Setting("secret_key", "",
            "Key that signs session cookies and CSRF tokens. Empty: a random key is made on first run and kept in "
            "<data_dir>/secret_key; prefer DESKBOOK_SECRET_KEY to writing it in a file."),
    Setting("session_hours", 12, "Web app: hours a sign-in lasts (a working shift), renewed on each visit."),
    Setting("secure_cookies", False, "Web app: send the session cookie over HTTPS only (turn on behind TLS)."),
    Setting("serve_host", "127.0.0.1", "`deskbook serve`: address to listen on (0.0.0.0 for every interface)."),
    Setting("serve_port", 8000, "`deskbook serve`: port to listen on."),
    Setting("serve_threads", 8, "`deskbook serve`: worker threads of the WSGI server (waitress)."),
    Setting("upload_max_mb", 50, "Web app: largest upload (SOP, ticket or transcript files) in MB."),
    Setting("rubrics_dir", "rubrics", "Folder of QA rubric files (YAML) that analysts choose from when importing transcripts "
            "(relative paths are from the working directory; the demo uses corpus/rubrics)."),
    Setting("review_months", 6, "Months added to today when a manager marks an SOP reviewed (the new review-by date)."),
)

register_settings(*WEB_SETTINGS)
