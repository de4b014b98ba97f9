"""A TemplateError that knows where it happened, so lint can report file and line apart."""

from __future__ import annotations

from notifier.errors import TemplateError


class TemplateFileError(TemplateError):
    """`incident_declared/email.en.j2: line 4: 'dict object' has no attribute 'titel'`."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        where = f"{file}: line {line}" if line is not None else file
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


class TemplateTooSlow(TemplateFileError):
    """A render of this file ran out of time: the data decides, so it may pass for one
    customer and not for the next."""
