"""Microsoft Teams as a destination: an Adaptive Card posted to a Workflows (Power Automate) webhook URL."""
