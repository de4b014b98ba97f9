"""notifier: tell customers about outages and order delays before they call."""

__version__ = "0.2.0"
