"""A generic destination: a signed HTTP POST (Standard Webhooks) for anything without its own publisher."""
