#!/usr/bin/env bash
# Set everything up and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${DESKBOOK_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# Browser tests drive headless Chromium from Debian packages (Playwright's own download is not used).
if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing chromium (browser tests)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium chromium-driver
fi

echo "==> lint (ruff) and layering (import-linter)" >&2
ruff check kb indexer qa_rubrics webapp tests bench
lint-imports
echo "==> tests" >&2
python -m pytest -q --durations=30 "$@"
