"""Hiding credentials in anything we print: the one masking function, :func:`mask_secrets`.

It takes a URL, a key=value DSN, or free text that contains them (an error
message, a log line) and replaces every password with ``***``:

- ``scheme://user:secret@host`` and ``scheme://:secret@host`` (Redis' usual form) keep the
  user and hide the rest of the userinfo. The userinfo runs to the *last* ``@``, because a
  password may hold an ``@`` of its own; percent-encoded characters are hidden along with the rest.
- ``password=...`` (libpq key=value DSNs, URL query parameters), quoted or not, and the same for
  keys naming a secret or a token.

When in doubt it hides more (say, a host after an ``@`` in a path), never less.
"""

import re

MASK = "***"

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


def mask_secrets(text: str) -> str:
    """``text`` with every URL password and every ``password=`` value replaced by ``***``."""
    text = _URL.sub(_mask_url, text)
    return _KEY_VALUE.sub(lambda m: f"{m['key']}{MASK}", text)
