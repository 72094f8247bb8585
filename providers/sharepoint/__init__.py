"""SharePoint news for tiles: a site's news posts through Microsoft Graph, with the Microsoft app's own token.

There is no SharePoint sign-in or publisher: the reader (feed.py) borrows the Microsoft (Entra) provider's client
id, secret and tenant, and the sandbox (sandbox.py) is mounted inside the Microsoft sandbox at /graph, because only
that sandbox's token endpoint knows which tokens it issued.
"""
