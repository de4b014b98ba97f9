"""Use cases: what the CLI and the HTTP API do, on top of the domain and the store."""
