"""The API's route registry: one declaration per route gives the Flask rule, the role check, the
validation of query parameters and JSON bodies, and the route's entry in the OpenAPI document.

Because `/api/v1/openapi.json` is generated from the same declarations that register the routes
and validate their input, the document cannot drift from what the routes do (a test checks that
every /api/v1 rule is documented and every documented path is a rule).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, g, request
from flask_login import current_user

from kb.errors import InputError
from kb.text import bad_character
from webapp.accounts import ROLES
from webapp.errors import HINTS, error_json

ALL_ROLES = ROLES
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1  # what every database column of the API's numbers holds
MAX_DEPTH = 20  # JSON bodies: objects and arrays nested deeper than this are refused


def int_arg(source, name: str, default: int | None = None, *, lo: int = INT_MIN, hi: int = INT_MAX) -> int | None:
    """An integer form or query field for the pages: `default` when missing, not a number or out of range."""
    raw = source.get(name)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return default
    return value if lo <= value <= hi else default


def parse_json_body() -> Any:
    """The request's JSON body, checked: valid JSON, nested at most MAX_DEPTH deep, and no text a
    database cannot store (NUL, lone surrogates). Every problem is an InputError naming the field."""
    if not request.is_json:
        raise InputError("The request body must be JSON", hint="send Content-Type: application/json")
    try:
        data = json.loads(request.get_data(cache=True).decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("The request body is not valid UTF-8", hint="send the JSON encoded as UTF-8") from None
    except RecursionError:
        raise InputError(f"The request body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:
        raise InputError(f"The request body is not valid JSON ({exc})",
                         hint="send a JSON object with Content-Type: application/json") from None
    _check_json(data, "", 0)
    return data


def _check_json(value: Any, path: str, depth: int) -> None:
    where = path or "body"
    if depth > MAX_DEPTH:
        raise InputError(f"{where} is nested too deeply (at most {MAX_DEPTH} levels)", field=path or None)
    if isinstance(value, str):
        bad = bad_character(value)
        if bad:
            raise InputError(f"{where} has {bad}", hint="send the text as valid UTF-8", field=path or None)
    elif isinstance(value, dict):
        for k, v in value.items():
            bad = bad_character(k)
            if bad:
                raise InputError(f"a field name in {where} has {bad}", field=path or None)
            _check_json(v, f"{path + '.' if path else ''}{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]", depth + 1)
    elif isinstance(value, float) and value != value:  # NaN
        raise InputError(f"{where} is not a number", field=path or None)


@dataclass
class Param:
    name: str
    type: str = "string"  # string | integer | number | boolean
    required: bool = False
    default: Any = None
    enum: Sequence[Any] | None = None
    many: bool = False  # repeatable (?tag=a&tag=b)
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None

    def schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": self.type}
        if self.enum:
            s["enum"] = list(self.enum)
        if self.default is not None:
            s["default"] = self.default
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        return {"type": "array", "items": s} if self.many else s

    def parse(self, args) -> Any:
        raw = args.getlist(self.name) if self.many else args.get(self.name)
        if raw is None or raw == [] or raw == "":
            if self.required:
                raise InputError(f"The query parameter {self.name!r} is required", hint=self.help or None,
                                 field=self.name)
            return [] if self.many else self.default
        values = raw if self.many else [raw]
        out = [self._one(v) for v in values if v != ""]
        return out if self.many else out[0]

    def _one(self, v: str) -> Any:
        try:
            if self.type == "integer":
                x: Any = int(v)
            elif self.type == "number":
                x = float(v)
            elif self.type == "boolean":
                if v.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(v)
                x = v.lower() in ("1", "true", "yes")
            else:
                x = v
        except ValueError:
            raise InputError(f"The query parameter {self.name!r} must be a {self.type}, not {v!r}",
                             field=self.name) from None
        if self.type == "integer" and not INT_MIN <= x <= INT_MAX:
            raise InputError(f"The query parameter {self.name!r} is out of range ({v})", field=self.name)
        if self.type == "number" and (x != x or abs(x) == float("inf")):
            raise InputError(f"The query parameter {self.name!r} must be a finite number", field=self.name)
        if self.enum and x not in self.enum:
            raise InputError(f"The query parameter {self.name!r} must be one of {', '.join(map(str, self.enum))}",
                             field=self.name)
        if self.minimum is not None and x < self.minimum:
            raise InputError(f"The query parameter {self.name!r} must be at least {self.minimum}", field=self.name)
        if self.maximum is not None and x > self.maximum:
            raise InputError(f"The query parameter {self.name!r} must be at most {self.maximum}", field=self.name)
        return x


@dataclass
class Endpoint:
    rule: str  # Flask rule, relative to the API prefix
    method: str
    view: Callable
    name: str
    summary: str
    roles: tuple[str, ...] | None  # None: public
    params: list[Param] = field(default_factory=list)
    body: dict[str, Any] | None = None  # JSON schema (or {"multipart": {...}} for uploads)
    response: dict[str, Any] | None = None
    status: int = 200
    tag: str = ""
    description: str = ""
    content_type: str = "application/json"
    errors: tuple[int, ...] = ()


# -- a small JSON-schema validator for request bodies (the subset the schemas use) -------------------
def validate(value: Any, schema: dict[str, Any], schemas: dict[str, dict], path: str = "") -> None:
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    where = path or "body"
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}
    if t:
        ok = isinstance(value, types[t]) and not (t in ("integer", "number") and isinstance(value, bool))
        if schema.get("nullable") and value is None:
            return
        if not ok:
            raise InputError(f"{where} must be {'an' if t[0] in 'aeiou' else 'a'} {t}", field=path or None)
    if "enum" in schema and value not in schema["enum"]:
        raise InputError(f"{where} must be one of {', '.join(map(str, schema['enum']))}", field=path or None)
    if t == "string":
        if len(value) < schema.get("minLength", 0):
            raise InputError(f"{where} must not be empty" if schema.get("minLength") == 1 else
                             f"{where} must have at least {schema['minLength']} characters", field=path or None)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise InputError(f"{where} must have at most {schema['maxLength']} characters", field=path or None)
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise InputError(f"{where} has the wrong form", hint=schema.get("description"), field=path or None)
    if t in ("integer", "number"):
        if not INT_MIN <= value <= INT_MAX:
            raise InputError(f"{where} is out of range (at most {INT_MAX})", field=path or None)
        if "minimum" in schema and value < schema["minimum"]:
            raise InputError(f"{where} must be at least {schema['minimum']}", field=path or None)
        if "maximum" in schema and value > schema["maximum"]:
            raise InputError(f"{where} must be at most {schema['maximum']}", field=path or None)
    if t == "array":
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InputError(f"{where} must have at most {schema['maxItems']} items", field=path or None)
        if len(value) < schema.get("minItems", 0):
            raise InputError(f"{where} must have at least {schema['minItems']} item(s)", field=path or None)
        for i, item in enumerate(value):
            validate(item, schema.get("items", {}), schemas, f"{path}[{i}]")
    if t == "object":
        for name in schema.get("required", []):
            if name not in value:
                raise InputError(f"{(path + '.') if path else ''}{name} is required", field=f"{path + '.' if path else ''}{name}")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                validate(value[name], sub, schemas, f"{path + '.' if path else ''}{name}")


class Api:
    """Declares API routes on a blueprint and describes them as OpenAPI 3."""

    def __init__(self, bp: Blueprint, *, title: str, version: str, schemas: dict[str, dict]):
        self.bp = bp
        self.title = title
        self.version = version
        self.schemas = schemas
        self.endpoints: list[Endpoint] = []

    def route(self, rule: str, method: str = "GET", *, summary: str, roles: Sequence[str] | None = ALL_ROLES,
              params: Sequence[Param] = (), body: dict | None = None, response: dict | None = None,
              status: int = 200, tag: str = "", description: str = "", content_type: str = "application/json",
              errors: Sequence[int] = ()):
        def deco(fn: Callable) -> Callable:
            ep = Endpoint(rule=rule, method=method, view=fn, name=fn.__name__, summary=summary,
                          roles=tuple(roles) if roles is not None else None, params=list(params), body=body,
                          response=response, status=status, tag=tag, description=description or (fn.__doc__ or ""),
                          content_type=content_type, errors=tuple(errors))

            @wraps(fn)
            def view(**kwargs):
                if ep.roles is not None:
                    if not current_user.is_authenticated:
                        return error_json("unauthorized", "Sign in or send an API token to use this.", 401,
                                          hint=HINTS[401])
                    if not current_user.can(*ep.roles):
                        return error_json("forbidden", f"This needs one of the roles: {', '.join(ep.roles)}.",
                                          403, hint=HINTS[403])
                for name, value in kwargs.items():  # <int:...> path parts
                    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
                        raise InputError(f"{name} is out of range ({value})", field=name)
                g.params = {p.name: p.parse(request.args) for p in ep.params}
                g.body = None
                if ep.body is not None and "multipart" not in ep.body:
                    data = parse_json_body()
                    validate(data, ep.body, self.schemas)
                    g.body = data
                return fn(**kwargs)

            self.bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
            self.endpoints.append(ep)
            return view

        return deco

    # -- OpenAPI -----------------------------------------------------------------------------
    @staticmethod
    def openapi_path(rule: str) -> str:
        return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule)

    def openapi(self, prefix: str) -> dict[str, Any]:
        paths: dict[str, dict] = {}
        for ep in self.endpoints:
            op: dict[str, Any] = {"operationId": ep.name, "summary": ep.summary, "tags": [ep.tag] if ep.tag else []}
            if ep.description:
                op["description"] = " ".join(ep.description.split())
            params = []
            for m in _CONVERTER.finditer(ep.rule):
                conv, name = m.group(1) or "string", m.group(2)
                p = {"name": name, "in": "path", "required": True,
                     "schema": {"type": "integer" if conv == "int" else "string"}}
                if conv == "path":
                    p["description"] = "may contain '/' (document ids are paths)"
                params.append(p)
            for prm in ep.params:
                q = {"name": prm.name, "in": "query", "required": prm.required, "schema": prm.schema()}
                if prm.help:
                    q["description"] = prm.help
                if prm.many:
                    q["style"], q["explode"] = "form", True
                params.append(q)
            if params:
                op["parameters"] = params
            if ep.body is not None:
                if "multipart" in ep.body:
                    op["requestBody"] = {"required": True,
                                         "content": {"multipart/form-data": {"schema": ep.body["multipart"]}}}
                else:
                    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ep.body}}}
            ok: dict[str, Any] = {"description": "OK" if ep.status < 300 else "Accepted"}
            if ep.response is not None:
                ok["content"] = {ep.content_type: {"schema": ep.response}}
            responses: dict[str, Any] = {str(ep.status): ok}
            err = {"$ref": "#/components/responses/Error"}
            codes = {400} if (ep.params or ep.body) else set()
            if ep.roles is not None:
                codes |= {401, 403}
            codes |= set(ep.errors)
            for c in sorted(codes):
                responses[str(c)] = err
            responses["default"] = err
            op["responses"] = responses
            if ep.roles is None:
                op["security"] = []
            else:
                op["x-roles"] = list(ep.roles) + (["admin"] if "admin" not in ep.roles else [])
            paths.setdefault(prefix + self.openapi_path(ep.rule), {})[ep.method.lower()] = op
        return {
            "openapi": "3.0.3",
            "info": {"title": self.title, "version": self.version,
                     "description": "Deskbook's JSON API. Authenticate with `Authorization: Bearer <token>` "
                                    "(tokens: `deskbook users token NAME` or the API tokens page), or with the "
                                    "web session plus an `X-CSRFToken` header. Errors always have the shape "
                                    "{\"error\": {\"code\", \"message\", \"hint\"?, \"field\"?}}."},
            "servers": [{"url": "/"}],
            "paths": paths,
            "components": {
                "schemas": self.schemas,
                "responses": {"Error": {"description": "An error",
                                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (dbk_...)."},
                    "session": {"type": "apiKey", "in": "cookie", "name": "session",
                                "description": "The web session; unsafe methods also need the X-CSRFToken header."},
                },
            },
            "security": [{"bearer": []}, {"session": []}],
        }
