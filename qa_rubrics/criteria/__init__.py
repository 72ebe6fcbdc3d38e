"""The registry of criterion methods, by versioned name ("semantic.v1", "keyword.v1" ...).

`resolve("semantic")` gives the latest version, `resolve("semantic.v1")` that one. Each method lives
in its own module and registers itself here when imported.
"""

from __future__ import annotations

import re

from qa_rubrics.criteria.base import RESULTS, Evidence, FieldSpec, Method, Outcome, calibrated

__all__ = ["RESULTS", "Evidence", "FieldSpec", "Method", "Outcome", "calibrated", "register", "resolve",
           "method_names", "later_fields", "REGISTRY"]

REGISTRY: dict[str, Method] = {}
_VERSIONED = re.compile(r"^([a-z_]+)\.v(\d+)$")


def register(method: Method) -> Method:
    if method.key in REGISTRY:
        raise ValueError(f"method {method.key} is registered twice")
    REGISTRY[method.key] = method
    return method


_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from qa_rubrics.criteria import (  # noqa: F401  (each registers itself)
        absent,
        keyword,
        llm,
        order,
        regex,
        semantic,
        semantic_v2,
        semantic_v3,
        semantic_v4,
        semantic_v5,
        semantic_v6,
        semantic_v7,
        semantic_v8,
        sop_steps,
        timing,
    )


def later_fields(method: Method) -> dict[str, str]:
    """Fields that only later versions of `method` take, each with a word for a rubric that pins it."""
    _load_builtin()
    out: dict[str, str] = {}
    for m in sorted(REGISTRY.values(), key=lambda m: m.version):
        if m.name == method.name and m.version > method.version:
            for f in m.fields:
                out.setdefault(f.name, f"{method.key} does not take it; {m.key} and later do")
    return out


def resolve(name: str) -> Method | None:
    """The method named `name` ("keyword": latest version; "keyword.v1": exactly that)."""
    _load_builtin()
    name = str(name).strip().lower()
    if name in REGISTRY:
        return REGISTRY[name]
    m = _VERSIONED.match(name)
    if m:
        return None
    versions = [meth for meth in REGISTRY.values() if meth.name == name]
    return max(versions, key=lambda meth: meth.version) if versions else None


def method_names() -> list[str]:
    """Plain method names, for error hints."""
    _load_builtin()
    return sorted({m.name for m in REGISTRY.values()})
