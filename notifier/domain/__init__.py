"""The domain: states, transition tables and message shapes. No I/O here."""
