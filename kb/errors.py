"""One error hierarchy for Deskbook.

Every error carries a message that says what went wrong and, where possible, how to fix it.
The edges translate them: the CLI into exit codes, the web app into one JSON error shape.
"""

from __future__ import annotations


class DeskbookError(Exception):
    """Base class: a problem the user can act on."""

    code = "deskbook_error"
    exit_code = 1
    http_status = 400

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.field:
            out["field"] = self.field
        return out


class InputError(DeskbookError):
    """Bad input from the user: a query, a file, a field."""

    code = "invalid_input"
    exit_code = 2


class ConfigError(DeskbookError):
    """A setting is missing or wrong."""

    code = "config_error"
    exit_code = 2


class SchemaError(DeskbookError):
    """The database was written by another version of Deskbook, or is damaged."""

    code = "schema_error"
    exit_code = 3
    http_status = 500


class IndexMismatchError(DeskbookError):
    """The stored vectors were made with another model than the one configured."""

    code = "index_mismatch"
    exit_code = 3
    http_status = 409


class NotFoundError(DeskbookError):
    code = "not_found"
    exit_code = 4
    http_status = 404


class ConflictError(DeskbookError):
    """A write based on an outdated version (e.g. two people editing one SOP)."""

    code = "conflict"
    exit_code = 5
    http_status = 409
