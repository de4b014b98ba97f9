"""Service functions: one implementation behind the CLI and the HTTP API."""
