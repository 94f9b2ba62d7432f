"""Text helpers shared by the modules: how a user's value is quoted in an error message."""

from __future__ import annotations

from typing import Any


def excerpt(value: Any, limit: int = 60) -> str:
    """The repr of `value` for an error message, at most `limit` characters: long containers are
    described by type and size (their repr is never built), long strings are cut. Never raises."""
    if isinstance(value, (list, tuple, dict, set)) and len(value) > 20:
        return f"a {type(value).__name__} of {len(value)} items"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the actual error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."
