"""Temporary files Deskbook leaves behind only when a process is killed, removed at the next start.

- FAISS files are written to `<name>.tmp-<pid>-<thread>` and renamed (kb.ann): a temporary file of
  a process that no longer runs is removed when the index is next opened (`stale_index_temps`).
- Background jobs parse uploaded transcripts and rubrics in private folders named `deskbook-*` in
  the system's temporary folder (they hold unredacted text): `clean_system_temp` removes such
  folders once they are older than a job could be using them (`max_age` seconds), when an app server
  or a worker starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIXES = ("deskbook-transcripts-", "deskbook-rubric-", "deskbook-upload-", "deskbook-job-")


def remove_path(entry: Path) -> None:
    """Delete a file or a whole folder; what is already gone is no error."""
    if entry.is_dir():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    except OSError:
        return False
    return True


def stale_index_temps(path: Path) -> int:
    """Remove `<path>.tmp-<pid>-...` (and `<path>.json.tmp-<pid>`) files of processes that are gone."""
    removed = 0
    folder = path.parent
    if not folder.is_dir():
        return 0
    for f in folder.glob(path.name + "*.tmp-*"):
        try:
            pid = int(f.name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not pid_alive(pid):
            f.unlink(missing_ok=True)
            removed += 1
    return removed


def clean_system_temp(max_age: float = 3600.0, root: str | None = None) -> int:
    """Remove Deskbook's private temporary folders older than `max_age` seconds."""
    base = Path(root or tempfile.gettempdir())
    now = time.time()
    removed = 0
    try:
        entries = list(base.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(PREFIXES):
            continue
        try:
            if now - entry.stat().st_mtime < max_age:
                continue
            remove_path(entry)
            removed += 1
        except OSError:
            continue
    return removed
