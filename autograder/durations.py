"""Spans of time in words, as students and graders read them ('1 h 31 min', '2 days 3 h')."""
from __future__ import annotations

from datetime import timedelta


def in_words(delta: timedelta) -> str:
    """'1 h 31 min', '2 days 3 h', '45 s'."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} day{'s' * (days != 1)}" if days else "", f"{hours} h" if hours else "",
             f"{minutes} min" if minutes and not days else "", f"{secs} s" if secs and not (days or hours) else ""]
    return " ".join(p for p in parts if p) or "0 s"
