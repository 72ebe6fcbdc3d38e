#!/usr/bin/env bash
# The web app's catalogs (webapp/translations): extract the marked text, merge it into each
# language's messages.po, compile the .mo files. After running it, translate every new or fuzzy
# entry in webapp/translations/*/LC_MESSAGES/messages.po and run it again (or `compile` only);
# tests/test_web_i18n.py fails while a string has no translation.
#   scripts/i18n.sh            extract, update and compile
#   scripts/i18n.sh compile    compile only
#   scripts/i18n.sh init xx    start a new language
set -euo pipefail
cd "$(dirname "$0")/.."
POT=webapp/translations/messages.pot
extract() {
  pybabel extract --no-wrap -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --omit-header -o "$POT" webapp
}
case "${1:-update}" in
  compile) ;;
  init) extract; pybabel init -i "$POT" -d webapp/translations -l "$2" ;;
  update) extract; pybabel update -i "$POT" -d webapp/translations --no-fuzzy-matching --ignore-obsolete --no-wrap ;;
  *) echo "usage: $0 [update|compile|init LANG]" >&2; exit 2 ;;
esac
pybabel compile -d webapp/translations --statistics
