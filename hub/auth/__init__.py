"""Sign-in with social providers, provisioning, account linking."""
