"""Hiding credentials in anything we print: the one masking function, :func:`mask_secrets`.

It takes a URL, a key=value DSN, or free text that contains them (an error
message, a log line) and replaces every password with ``***``:

- ``scheme://user:secret@host`` and ``scheme://:secret@host`` (Redis' usual form) keep the
  user and hide the rest of the userinfo. The userinfo runs to the *last* ``@``, because a
  password may hold an ``@`` of its own; percent-encoded characters are hidden along with the rest.
- ``password=...`` (libpq key=value DSNs, URL query parameters), quoted or not, and the same for
  keys naming a secret or a token.

When in doubt it hides more (say, a host after an ``@`` in a path), never less.

That covers the forms we print ourselves. A driver's own error text may quote
a *fragment* of a password instead (libpq, given ``postgresql://u:pa@ss@h/db``
with an unencoded ``@``, says ``could not translate host name "ss@h"``): a
``SecretScrubber`` knows the configured secrets and hides every fragment of
them as well.
"""

import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import quote, unquote

MASK = "***"


class Scrub(Protocol):
    """What hides the secrets in a text before it is shown: ``mask_secrets``, or a ``SecretScrubber`` that also
    knows the configured secrets. Named so a service asking for one says what it wants, not just ``str -> str``."""

    def __call__(self, text: str) -> str: ...


# A URL runs to the next whitespace: a password may contain quotes or brackets.
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>\S*)")
_KEY_VALUE = re.compile(
    r"(?P<key>\b\w*(?:password|passwd|pwd|secret|token)\w*\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?|\S*)",
    re.IGNORECASE,
)


def _mask_url(match: re.Match[str]) -> str:
    rest = match["rest"]
    at = rest.rfind("@")
    userinfo = rest[:at]
    if at < 0 or ":" not in userinfo:  # no userinfo, or a user name alone: nothing secret
        return match[0]
    user = userinfo.split(":", 1)[0]
    return f"{match['scheme']}{user}:{MASK}@{rest[at + 1 :]}"


def userinfo(url: str) -> str:
    """What stands between a URL's ``scheme://`` and its *last* ``@`` ('' without one): the user and password as
    written, which a password holding an unencoded ``@`` leaves whole (as ``mask_secrets`` reads it)."""
    match = _URL.match(url.strip())
    if match is None:
        return ""
    at = match["rest"].rfind("@")
    return match["rest"][:at] if at >= 0 else ""


def mask_secrets(text: str) -> str:
    """``text`` with every URL password and every ``password=`` value replaced by ``***``."""
    text = _URL.sub(_mask_url, text)
    return _KEY_VALUE.sub(lambda m: f"{m['key']}{MASK}", text)


# Where URL and DSN parsers cut a value: a password's fragment is what lies between two of these.
_CUTS = re.compile(r"[@:/?#\[\]%=&;,\s'\"]+")
# A fragment this long is hidden wherever it appears; a shorter one only as a quoted value of its own.
MIN_FRAGMENT = 3
_QUOTED = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'")


class SecretScrubber:
    """``mask_secrets``, and then every fragment of the configured ``secrets`` wherever a text quotes it.

    A secret's fragments are its pieces between the characters parsers cut at (``@ : / ? # %`` and the like),
    of the secret as written, percent-decoded and percent-encoded. A fragment of three characters or more is
    replaced wherever it appears; a quoted value (``"..."`` or ``'...'``, the way libpq quotes what it could
    not use) holding any fragment, however short, is replaced whole.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = {form for secret in secrets if secret for form in (secret, unquote(secret), quote(secret, safe=""))}
        self._fragments = {piece for form in forms for piece in _CUTS.split(form) if piece}
        long = sorted({f for f in forms | self._fragments if len(f) >= MIN_FRAGMENT}, key=len, reverse=True)
        self._long = re.compile("|".join(map(re.escape, long))) if long else None

    def __call__(self, text: str) -> str:
        text = mask_secrets(text)
        if not self._fragments:
            return text
        text = _QUOTED.sub(self._quoted, text)
        return self._long.sub(MASK, text) if self._long else text

    def _quoted(self, match: re.Match[str]) -> str:
        quoted = match[0]
        if self._fragments.isdisjoint(_CUTS.split(quoted[1:-1])):
            return quoted
        return f"{quoted[0]}{MASK}{quoted[-1]}"
