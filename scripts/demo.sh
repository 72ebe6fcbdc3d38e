#!/usr/bin/env bash
# Set everything up, index corpus/ and show a few searches.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${DESKBOOK_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export DESKBOOK_CONFIG="${DESKBOOK_CONFIG:-corpus/deskbook.toml}"  # the sample company's settings
DB="${DESKBOOK_DB:-data/deskbook.db}"

echo "==> indexing corpus/ into $DB" >&2
deskbook index --db "$DB" corpus/sops corpus/tickets

for q in "my refund still hasn't shown up on my card" \
         "parcel says delivered but nothing here" \
         "customer wants all the data you hold about them"; do
  echo
  echo "\$ deskbook search \"$q\" --k 3"
  deskbook search --db "$DB" "$q" --k 3
done

# The web app: sample calls prescored for the QA queue, one user per role (a new password on every
# run: `--reset-password` makes this safe to run again), then the server in the foreground on
# 127.0.0.1:8000 (DESKBOOK_PORT to change it).
echo >&2
echo "==> prescoring the sample calls and chats (corpus/transcripts/dev) for the QA review queue" >&2
{ deskbook qa score --db "$DB" --store --no-progress --rubric corpus/rubrics/phone-support.yaml \
    corpus/transcripts/dev/call-* >/dev/null &&
  deskbook qa score --db "$DB" --store --no-progress --rubric corpus/rubrics/chat-support.yaml \
    corpus/transcripts/dev/chat-* >/dev/null; } || echo "warning: QA prescoring failed; the review queue starts empty" >&2
export DESKBOOK_RUBRICS_DIR="${DESKBOOK_RUBRICS_DIR:-corpus/rubrics}"  # rubrics offered on the QA import page
echo "==> web app users (sign in at http://127.0.0.1:${DESKBOOK_PORT:-8000}/ with one of these)" >&2
for role in agent manager analyst admin; do
  deskbook users add --db "$DB" "$role" --role "$role" --reset-password
done
echo "==> serving the web app on http://127.0.0.1:${DESKBOOK_PORT:-8000}/ (Ctrl+C to stop)" >&2
exec deskbook serve --db "$DB" --host 127.0.0.1 --port "${DESKBOOK_PORT:-8000}"
