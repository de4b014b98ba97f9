"""Providers and their capacity.

    breaker    a circuit breaker per provider (closed, open, half-open)
    failover   a channel over several providers, in order, each behind its breaker
    providers  the providers a channel's settings name
    limiter    GCRA per provider account, in memory or shared by every worker (PostgreSQL)
    pacing     the dispatcher's pacer: a send waits for its account's turn
    forecast   how many messages, at what pace, and when the last customer will have heard
"""

from __future__ import annotations
