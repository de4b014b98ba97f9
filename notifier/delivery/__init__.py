"""Providers and their capacity: how fast each account may be sent to, and in what order.

    limiter    GCRA per provider account, in memory or shared by every worker (PostgreSQL)
    pacing     the dispatcher's pacer: a send waits for its account's turn
    forecast   how many messages, at what pace, and when the last customer will have heard
"""
