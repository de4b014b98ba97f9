"""Customer-facing templates: sandboxed Jinja, one file per message, channel and locale.

    templates/<message>/<channel>.<locale>.j2      e.g. incident_declared/sms.fr.j2

An email file has `{% block subject %}`, `{% block text %}` and `{% block html %}` (the html
block is autoescaped); an SMS file is plain text. Templates see `customer`, `incident`,
`update`, `event`, `company`, `now` and `order` (see `context`), and format dates with the
`datetime`, `date`, `time`, `until` and `timedelta` filters in the customer's timezone and
language (see `filters`). They run sandboxed and bounded (see `limits` and `sandbox`): a
broken or hostile template raises TemplateError, naming the file and line.
"""

from notifier.templating.catalog import LiveCatalog, TemplateCatalog
from notifier.templating.context import PROVIDED_NAMES, sample_context
from notifier.templating.errors import TemplateFileError
from notifier.templating.lint import LintIssue, lint_directory, lint_sources
from notifier.templating.sms_length import SmsLength, sms_segments

__all__ = [
    "PROVIDED_NAMES",
    "LintIssue",
    "LiveCatalog",
    "SmsLength",
    "TemplateCatalog",
    "TemplateFileError",
    "lint_directory",
    "lint_sources",
    "sample_context",
    "sms_segments",
]
