"""YAML from files people upload or edit (SOP front matter, QA rubrics): the safe loader, bounded.

- Aliases (`*name`) are refused. An anchor used a few times inside a value that refers to itself
  ("billion laughs") makes a 261-byte file expand to gigabytes when it is walked or printed;
  front matter and rubrics never need them, so a clear error with the line is the safe answer.
- A timestamp that is not a real date (`review_by: 2024-02-30`) is an error with its line, not a
  `ValueError` from deep inside PyYAML.
- Documents nested deeper than `MAX_DEPTH` are refused (the composer recurses once per level).

Errors are `yaml.MarkedYAMLError`s (with `problem_mark`), so callers report them like any YAML
syntax error.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

MAX_DEPTH = 50


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` without aliases, with checked dates and a nesting limit."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(None, None, f"aliases (*{event.anchor}) are not allowed: write the value out",
                                event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(None, None, f"{node.value!r} is not a valid date or time ({exc})",
                                   node.start_mark) from None


BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", BoundedLoader.construct_yaml_timestamp)


def safe_load(text: str) -> Any:
    """Like `yaml.safe_load`, with the limits above."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
