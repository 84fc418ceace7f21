"""Reading the configuration: YAML file, then environment overrides, then checks."""

import dataclasses
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import psycopg2.extensions
import yaml
from redis.connection import parse_url

from app.config.keys import declared
from app.config.masking import is_secret
from app.config.schema import Config, RedisConfig
from app.domain.proxy_endpoint import InvalidProxy, parse_proxy_url
from app.domain.secrets import mask_secrets, userinfo

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "conf" / "marketflow.yaml"

# Environment variable -> dotted key. Values are taken as strings (a DSN is never YAML); integer keys as integers.
ENV_OVERRIDES = {
    "MARKETFLOW_MODE": "mode",
    "MARKETFLOW_HTTP_PORT": "http.port",
    "MARKETFLOW_HTTP_WORKERS": "http.workers",
    "MARKETFLOW_REDIS_URL": "redis.url",
    "MARKETFLOW_POSTGRES_DSN": "postgres.dsn",
    "MARKETFLOW_ADMIN_TOKEN": "http.admin_token",
}


# Symbols and exchange names become parts of Redis keys (``<prefix>:ticks:<exchange>:<SYMBOL>``) and URL paths.
SYMBOL = re.compile(r"[A-Za-z0-9]+")
EXCHANGE_NAME = re.compile(r"[A-Za-z0-9._-]+")
# Characters Redis reads as a pattern in SCAN MATCH, or that would split a key.
NOT_IN_KEY_PREFIX = re.compile(r"[*?\[\]{}\\\s]")


class ConfigError(ValueError):
    """A configuration problem, worded for the operator: it names the key."""


def load_config(path: str | os.PathLike[str] | None = None, env: typing.Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    chosen = path or env.get("MARKETFLOW_CONFIG")
    file = Path(chosen or DEFAULT_PATH)
    # Without the default file the defaults apply; a file someone named must exist.
    if not chosen and not file.exists():
        raw = {}
    else:
        try:
            raw = yaml.safe_load(file.read_text())
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read the config file ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML ({mask_secrets(str(exc))})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping")
    for var, dotted in ENV_OVERRIDES.items():
        if var in env:
            _set_dotted(raw, dotted, _env_value(dotted, env[var]), var)
    config = _build(Config, raw, "")
    _check(config)
    return config


def _env_value(dotted: str, text: str) -> Any:
    """An integer key's digits become an int; everything else stays the string it is (the type check follows)."""
    hint: Any = Config
    for part in dotted.split("."):
        hint = typing.get_type_hints(hint)[part]
    return int(text) if hint is int and re.fullmatch(r"-?[0-9]{1,18}", text) else text


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, var: str) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{part}: must be a mapping (needed by {var})")
        node = child
    node[leaf] = value


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{_join(path, str(unknown[0]))}: unknown key")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        values[name] = _coerce(hints[name], value, _join(path, name))
    missing = [
        name
        for name, f in fields.items()
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{_join(path, missing[0])}: required key is missing")
    return cls(**values)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint)
        return [_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{path}: must be one of {', '.join(map(str, choices))}, got {_shown(path, value)}")
        return value
    if origin in (typing.Union, types.UnionType):
        section = _optional_section(hint)
        return None if value is None else _build(section, value, path)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
        raise ConfigError(f"{path}: expected {hint.__name__}, got {type(value).__name__}{_shown(path, value, ' ')}")
    return value


def _optional_section(hint: Any) -> type:
    """The section of an optional one (``Section | None``: absent means off); no other union is in the schema."""
    args = typing.get_args(hint)
    sections = [arg for arg in args if dataclasses.is_dataclass(arg)]
    if len(args) != 2 or type(None) not in args or len(sections) != 1:
        raise TypeError(f"{hint}: only an optional section (Section | None) may be a union in the schema")
    return sections[0]


def _shown(path: str, value: Any, lead: str = "") -> str:
    """The value as an error may quote it: never for a key that holds a secret."""
    return "" if is_secret(path) else f"{lead}{value!r}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(config: Config) -> None:
    """Every key's declared range, then the rules across keys, or on text, that a range can't express."""
    _check_ranges(config, "")
    if not config.symbols:
        raise ConfigError("symbols: at least one symbol is required")
    for i, symbol in enumerate(config.symbols):
        if not SYMBOL.fullmatch(symbol):
            raise ConfigError(f"symbols[{i}]: {symbol[:40]!r} must be letters and digits only")
    _check_redis(config)
    _check_retention(config)
    live = config.sources.live
    if live.reconnect_max_seconds < live.reconnect_initial_seconds:
        raise ConfigError("sources.live.reconnect_max_seconds: must be at least reconnect_initial_seconds")
    if not config.sources.test.exchanges:
        raise ConfigError("sources.test.exchanges: at least one exchange is required")
    keyed_names = _exchange_names(config)
    for key, name in keyed_names:
        if not EXCHANGE_NAME.fullmatch(name):
            raise ConfigError(f"{key}: {name[:40]!r} must be letters, digits, '.', '_' or '-' only")
    names = [name for _, name in keyed_names]
    lowered = [name.lower() for name in names]
    duplicate = next((name for name in names if lowered.count(name.lower()) > 1), None)
    if duplicate:
        raise ConfigError(f"sources: exchange name {duplicate!r} is used twice")
    _check_spool(config)
    _check_proxy(config)
    _check_http(config)
    _check_stores(config)
    for i, ws in enumerate(live.websocket):
        key = f"sources.live.websocket[{i}]"
        unknown = sorted(set(ws.symbols) - set(config.symbols))
        if unknown:
            raise ConfigError(f"{key}.symbols: {unknown[0]} is not in symbols")
        if ws.url and not ws.url.startswith(("ws://", "wss://")):
            raise ConfigError(f"{key}.url: must start with ws:// or wss://")
        if ws.ca_file and not Path(ws.ca_file).is_file():
            raise ConfigError(f"{key}.ca_file: no such file {ws.ca_file!r}")
        if ws.rest_url:
            _check_rest_url(f"{key}.rest_url", ws.rest_url)
        if ws.discover is not None:
            if not ws.discover.quotes:
                raise ConfigError(f"{key}.discover.quotes: at least one quote asset is required")
            for n, quote in enumerate(ws.discover.quotes):
                if not SYMBOL.fullmatch(quote) or quote != quote.upper():
                    raise ConfigError(f"{key}.discover.quotes[{n}]: {quote[:40]!r} must be upper case letters, digits")


def _check_ranges(section: Any, path: str) -> None:
    """Each number against the range its ``key`` declares, in nested sections and list entries alike."""
    for field in dataclasses.fields(section):
        value, key = getattr(section, field.name), _join(path, field.name)
        if value is None:  # an optional section left out
            continue
        if dataclasses.is_dataclass(value):
            _check_ranges(value, key)
        elif isinstance(value, list):
            for i, entry in enumerate(value):
                if dataclasses.is_dataclass(entry):
                    _check_ranges(entry, f"{key}[{i}]")
        elif not declared(field).allows(value):
            raise ConfigError(f"{key}: {declared(field).refusal(value)}")


def _check_rest_url(key: str, url: str) -> None:
    """``http(s)://host[:port]``: the base the API paths are appended to."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{key}: the port must be 1-65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ConfigError(f"{key}: must be http:// or https:// and a host, e.g. https://api.binance.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{key}: only the base (scheme, host, port), without a path, query or credentials")


def _exchange_names(config: Config) -> list[tuple[str, str]]:
    """Every exchange name with its key."""
    live = config.sources.live
    return [
        *((f"sources.test.exchanges[{i}]", name) for i, name in enumerate(config.sources.test.exchanges)),
        *((f"sources.live.tcp[{i}].name", s.name) for i, s in enumerate(live.tcp)),
        *((f"sources.live.websocket[{i}].name", s.name) for i, s in enumerate(live.websocket)),
    ]


def _check_retention(config: Config) -> None:
    """A coarser tier outlives a finer one: a span past the finer's retention is answered from it."""
    kept = config.retention
    if kept.hours_days < kept.minutes_days:
        raise ConfigError(f"retention.hours_days: must be at least retention.minutes_days ({kept.minutes_days})")
    if kept.days_days and kept.days_days < kept.hours_days:
        raise ConfigError(
            f"retention.days_days: must be 0 (for ever) or at least retention.hours_days ({kept.hours_days})"
        )


def _check_redis(config: Config) -> None:
    prefix = config.redis.key_prefix
    if not prefix or NOT_IN_KEY_PREFIX.search(prefix):
        raise ConfigError("redis.key_prefix: must be non-empty, without spaces or any of * ? [ ] { } \\")


def _check_proxy(config: Config) -> None:
    proxy = config.proxy
    for i, url in enumerate(proxy.proxies):
        _check_userinfo(f"proxy.proxies[{i}]", url, "/?#")
        try:
            parse_proxy_url(url)
        except InvalidProxy as exc:
            raise ConfigError(f"proxy.proxies[{i}]: {exc}") from None
    if proxy.static and proxy.static not in proxy.proxies:
        raise ConfigError("proxy.static: must be one of proxy.proxies")
    if proxy.enabled and (proxy.mode == "disabled" or not proxy.proxies):
        raise ConfigError("proxy.enabled: needs proxy.mode static or rotating and at least one proxy")


def _check_spool(config: Config) -> None:
    """The spool must be writable, or sealed minutes would have nowhere safe to go."""
    path = Path(config.aggregator.spool_path)
    if not path.suffix:  # each process's file is <stem>.<run><suffix>: the suffix tells them from the rest
        raise ConfigError(f"aggregator.spool_path: must end in a file extension, e.g. {path.name or 'minutes'}.jsonl")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"aggregator.spool_path: cannot create {path.parent} ({exc.strerror})") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"aggregator.spool_path: {path} is not writable")


ORIGIN = re.compile(r"https?://[^/?#@\s]+")
PRINTABLE_TOKEN = re.compile(r"[!-~]{16,}")


def _check_http(config: Config) -> None:
    """The admin token and the allowed origins; no message repeats the token."""
    http = config.http
    if http.admin_token and not PRINTABLE_TOKEN.fullmatch(http.admin_token):
        raise ConfigError(
            "http.admin_token: must be at least 16 printable ASCII characters without spaces "
            "(e.g. the output of `openssl rand -hex 16`)"
        )
    for i, origin in enumerate(http.allowed_origins):
        if not ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"http.allowed_origins[{i}]: must be an origin such as https://prices.example.com "
                f"(scheme, host and optional port only), got {origin[:80]!r}"
            )


# A ``%`` that does not start a ``%XX`` escape.
BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
PERCENT_ENCODE = (
    "percent-encode them (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25; e.g. "
    "python3 -c \"import getpass, urllib.parse; print(urllib.parse.quote(getpass.getpass(), safe=''))\")"
)


def _check_userinfo(key: str, url: str, reserved: str) -> None:
    """A user name or password holding a character its parser cuts at (``reserved``, or a stray ``%``) would be
    read in pieces, and the driver's error would quote a piece: say how to write it instead, quoting nothing."""
    info = userinfo(url)
    if any(char in info for char in reserved) or BAD_PERCENT.search(info):
        raise ConfigError(
            f"{key}: the user name or password holds a character a URL reserves ({' '.join(reserved)} or a % not "
            f"starting %XX): {PERCENT_ENCODE}"
        )


def _check_stores(config: Config) -> None:
    """A malformed URL or DSN fails here, naming the key, instead of later in a driver error that quotes it.

    libpq reads a URL's user and password up to its *first* ``@``, redis-py and our proxy URLs up to the last.
    """
    _check_redis_urls(config.redis)
    _check_userinfo("postgres.dsn", config.postgres.dsn, "@/?#[]")
    try:
        psycopg2.extensions.parse_dsn(config.postgres.dsn)
    except psycopg2.Error:
        raise ConfigError(
            "postgres.dsn: not a valid PostgreSQL connection string (postgresql://... or key=value pairs)"
        ) from None


def _check_redis_urls(redis: RedisConfig) -> None:
    """One URL, or on a cluster one per startup node (no ``unix://``: cluster nodes are found by address)."""
    urls = redis.nodes()
    schemes = ("redis://", "rediss://") if redis.cluster else ("redis://", "rediss://", "unix://")
    if not urls:
        raise ConfigError("redis.url: a cluster needs at least one startup node")
    for url in urls:
        if not url.startswith(schemes):
            raise ConfigError(f"redis.url: must start with {', '.join(schemes[:-1])} or {schemes[-1]}")
        _check_userinfo("redis.url", url, "/?#")
        try:
            _ = urlsplit(url).port
            parse_url(url)  # what redis-py itself will accept; its messages may quote the URL
        except ValueError:
            raise ConfigError("redis.url: not a valid URL (a bad port, or brackets around no IPv6 address)") from None
