"""The URL contract of an analysis: a real canonical URL, not a placeholder.

One check, two users: ``goldkeeper verify`` reports it on every analysis (codes
``url.placeholder``, ``url.scheme``, ``url.invalid``) and ``goldkeeper diff`` reports the
violations a change introduces. It lives apart from both so that ``diff`` can use it without
importing verify's database contracts (psycopg is about 0.4 s of start-up).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from goldkeeper.config import VerifyParams


class UrlProblem(NamedTuple):
    """Why a URL breaks the contract: a stable ``code`` and a message naming the URL."""

    code: str
    message: str

    def describe(self) -> str:
        """``code: message``, the form ``goldkeeper diff`` shows."""
        return f"{self.code}: {self.message}"


def _placeholder_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(pattern.lower()) + r"(?![a-z0-9])")


def url_problem(url: str, params: VerifyParams) -> UrlProblem | None:
    """The URL contract: a real canonical URL, not a placeholder. The problem, or None if kept.

    Patterns from ``verify.placeholder_patterns`` match case-insensitively as whole words (so
    ``todo`` flags ``https://x.org/todo`` but not ``.../wiki/Todos_Santos``); the scheme must be
    in ``verify.url_schemes``; the URL must parse and have a host.
    """
    lowered = url.lower()
    for pattern in params.placeholder_patterns:
        if _placeholder_regex(pattern).search(lowered):
            return UrlProblem("url.placeholder", f"{url!r} looks like a placeholder (matches {pattern!r})")
    if any(ch.isspace() for ch in url):
        return UrlProblem("url.invalid", f"{url!r} contains whitespace")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a non-numeric port
    except ValueError as exc:
        return UrlProblem("url.invalid", f"{url!r} does not parse ({exc})")
    schemes = [s.lower() for s in params.url_schemes]
    if parts.scheme.lower() not in schemes:
        return UrlProblem("url.scheme", f"{url!r}: scheme {parts.scheme or '(none)'!r} is not one of {schemes}")
    if not host:
        return UrlProblem("url.invalid", f"{url!r} has no host")
    return None


__all__ = ["UrlProblem", "url_problem"]
