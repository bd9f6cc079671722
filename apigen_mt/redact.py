"""Secrets never printed or written: credentials in URLs and every header value.

Two layers. Text that may hold a URL (an error line, a probe result, a base_url in a
config dump) has the ``user:password@`` part of every URL masked. And every secret the
process learns at run time — API keys read from the environment, header values, URL
credentials — is registered here, so :func:`redact_text` masks it wherever it turns up,
whatever field it came through (an error message quoting a request, a server echoing a
header back).
"""

from __future__ import annotations

import re
import threading

MASK = "***"
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s@]+)@")
_MIN_SECRET = 4  # shorter values would mask ordinary words
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so every later :func:`redact_text` masks it."""
    if value and len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(value)


def url_credentials(url: str) -> list[str]:
    """The ``user`` and ``password`` parts of every URL in ``url`` (for registering)."""
    found: list[str] = []
    for match in _URL_CREDENTIALS.finditer(url):
        user, _, password = match.group(2).partition(":")
        found += [p for p in (user, password) if p]
    return found


def redact_url(url: str) -> str:
    """``http://user:key@host/v1`` → ``http://***@host/v1``."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{MASK}@", url)


def redact_text(text: str) -> str:
    """Mask URL credentials and every registered secret in ``text``."""
    text = redact_url(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masks
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
