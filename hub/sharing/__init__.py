"""Sharing LMS events to social networks: intake, rules, consent, the outbox and its workers."""
