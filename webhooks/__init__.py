"""Inbound webhooks (LMS events, xAPI, provider callbacks): built by the sharing issue."""
