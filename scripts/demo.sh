#!/usr/bin/env bash
# Set everything up, index corpus/ and show a few searches.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${DESKBOOK_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
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
