"""Regenerate the settings tables of README.md and docs/*.md from the one settings table (kb.settings).

A table sits between `<!-- settings: SECTIONS -->` and `<!-- /settings -->` (SECTIONS: `all`, or
names of kb.settings.SECTIONS separated by commas). `python scripts/gen_docs.py` rewrites them;
`--check` only reports the files that differ (the test command runs it through the tests).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.settings import markdown_table  # noqa: E402

BLOCK = re.compile(r"(<!-- settings: ([a-z, ]+) -->\n)(.*?)(<!-- /settings -->)", re.S)
FILES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]


def render(text: str) -> str:
    def table(m: re.Match) -> str:
        names = tuple(n.strip() for n in m.group(2).split(",") if n.strip())
        return m.group(1) + markdown_table(() if names == ("all",) else names) + m.group(4)

    return BLOCK.sub(table, text)


def stale_files() -> list[str]:
    out = []
    for name in FILES:
        text = (ROOT / name).read_text(encoding="utf-8")
        if render(text) != text:
            out.append(name)
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = stale_files()
        for name in stale:
            print(f"{name}: settings table out of date (run python scripts/gen_docs.py)")
        return 1 if stale else 0
    for name in FILES:
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
