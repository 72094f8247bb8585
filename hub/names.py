"""Names admins type that other people see (organisations, groups, tiles, OAuth clients, provider labels): no
character that hides text or makes it read as something else.

"Trojan Source" (CVE-2021-42574): a right-to-left override turns "invoice\u202efdp.exe" into "invoiceexe.pdf" on
screen; zero-width and other format characters make two names that look the same differ (or one hide a second);
controls break lines, logs and terminals, and PostgreSQL cannot store NUL at all.
"""
from __future__ import annotations

import unicodedata

# Refused by Unicode category: controls (Cc: NUL, ESC, tab, newline, C1), format characters (Cf: the bidirectional
# embeddings, overrides, isolates and marks U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C; zero-width space
# U+200B, word joiner U+2060, BOM U+FEFF, soft hyphen, tag characters), lone surrogates (Cs, which no column can
# store), and the line and paragraph separators (Zl, Zp).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Format characters a name needs: the zero-width non-joiner and joiner shape Persian and Indic words (می‌خواهم) and
# join emoji sequences (👩‍💻). Neither reorders text.
ALLOWED_FORMAT = frozenset("\u200c\u200d")


def hidden_character(value: str) -> tuple[int, str] | None:
    """(1-based place, character) of the first character a name must not hold, or None."""
    for place, char in enumerate(value, 1):
        if unicodedata.category(char) in REFUSED_CATEGORIES and char not in ALLOWED_FORMAT:
            return place, char
    return None


def problem(value: str, label: str) -> str | None:
    """Why `value` cannot be a name, as a message naming the field (`label`, as the CLI spells it) and the
    character with its place, or None: each caller raises it as its own error (InvalidOrg, ClientError, ...)."""
    found = hidden_character(value)
    if found is None:
        return None
    place, char = found
    return (f"{label} must not contain control or text-direction characters "
            f"(U+{ord(char):04X} at character {place})")
