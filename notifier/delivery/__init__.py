"""Providers and their capacity: circuit breakers and failover between providers."""

from __future__ import annotations
