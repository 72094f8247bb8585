"""Yammer / Viva Engage as a destination: REST v1 messages with a delegated Entra token."""
