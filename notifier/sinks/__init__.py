"""Local stand-ins for the providers: an SMTP sink and a Twilio Messages API stand-in.

They live in the package, not in tests, because the demo and the benchmarks use them too.
"""

from __future__ import annotations

from notifier.sinks.smtp_sink import ReceivedEmail, SmtpSink
from notifier.sinks.twilio_standin import ReceivedSms, TwilioStandin

__all__ = ["ReceivedEmail", "ReceivedSms", "SmtpSink", "TwilioStandin"]
