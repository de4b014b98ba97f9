"""Sending what the outbox holds: claiming, dispatching to channels, retrying."""
