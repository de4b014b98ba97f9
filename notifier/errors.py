"""Every error notifier raises on purpose.

    NotifierError
    ├── InputError (ValueError)          bad input from a user: CLI exit 2, HTTP 422
    │   ├── ConfigError                  a config file or variable is wrong
    │   ├── ImportRowError               one row of an import file is wrong
    │   ├── RuleError                    a rule file is wrong (file, rule, field)
    │   ├── TemplateError                a template does not parse or render
    │   └── ScenarioError                a `rules simulate` scenario file is wrong
    ├── NotFound (LookupError)           an id that does not exist: CLI exit 2, HTTP 404
    ├── InvalidTransition                a state change the transition table refuses: HTTP 409
    ├── Unavailable                      the database cannot be reached now: CLI exit 1
    └── DeliveryError                    a channel could not deliver
        ├── TransientDeliveryError       try again later (SMTP 4xx, HTTP 429/5xx, dropped link)
        │   ├── ProviderThrottled        "slow down" (SMTP 421/451/454, Twilio 429/21611/30001)
        │   └── ProviderUnavailable      the provider is down (refused connection, HTTP 503)
        └── PermanentDeliveryError       never retry (SMTP 5xx, invalid number)
            └── RecipientOptedOut        the provider says the recipient opted out (21610)

Errors carry a message meant for the person who made the mistake: it says what is wrong and
where, in one line.
"""

from __future__ import annotations


class NotifierError(Exception):
    """Base of every error notifier raises on purpose."""


class InputError(NotifierError, ValueError):
    """Input from a user is wrong; the message says what and where."""


class ConfigError(InputError):
    pass


class ImportRowError(InputError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class RuleError(InputError):
    pass


class TemplateError(InputError):
    pass


class ScenarioError(InputError):
    pass


class NotFound(NotifierError, LookupError):
    pass


class InvalidTransition(NotifierError):
    def __init__(self, subject: str, current: str, target: str, allowed: frozenset[str]) -> None:
        allowed_text = ", ".join(sorted(allowed)) if allowed else "none: it is final"
        super().__init__(
            f"{subject} cannot go from {current!r} to {target!r} (allowed from {current!r}: "
            f"{allowed_text})"
        )
        self.current = current
        self.target = target


class Unavailable(NotifierError):
    """Something notifier needs (the database) cannot be reached now: try again later."""


class DeliveryError(NotifierError):
    def __init__(self, reason: str, code: str | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """The provider may accept the same message later."""


class ProviderThrottled(TransientDeliveryError):
    """The provider asks to slow down: the message is fine, the pace is not. Retried
    without counting against the message; the provider pauses for a while."""


class ProviderUnavailable(TransientDeliveryError):
    """The provider cannot be reached or says it is down: nothing is wrong with the
    message. Counts toward opening the provider's circuit breaker."""


class PermanentDeliveryError(DeliveryError):
    """The provider will never accept this message; retrying is pointless."""


class RecipientOptedOut(PermanentDeliveryError):
    """The provider refuses because the recipient opted out with it (Twilio 21610: they
    replied STOP): the customer is opted out of the channel, so nothing more is planned."""
