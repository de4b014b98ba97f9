"""The HTTP API: REST for operations and support, Twilio webhooks, unsubscribe pages."""

from notifier.api.app import create_app

__all__ = ["create_app"]
