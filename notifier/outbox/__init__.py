"""The outbox and everything that touches its table: no module outside this package builds
a statement on it (tests/outbox/test_ownership.py keeps it so).

    enqueue      planned messages become rows, once per idempotency key
    supersede    newer news replaces what is still waiting
    grouping     one customer, one voice: grouped messages leave as one digest
    fallback     a standby copy on another channel, settled by the primary's outcome
    claims       dispatchers take due rows with a lease and give back what they will not send
    outcomes     what became of each claimed message, recorded in batches
    deliveries   provider status callbacks, and the deliveries the API lists
    queries      reads: wake-ups, timeline, /metrics, min_gap, the simulation's transcript
    reports      an incident's report counts
    dispatcher   claim, hand to the channels, record
    retry        when to try again (pure)
"""
