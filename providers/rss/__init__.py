"""RSS and Atom feeds as tile sources: the reader (feed.py) and a local feed server for the demo (sandbox.py)."""
