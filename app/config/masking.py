"""Which configuration keys hold secrets, and the config as it may be shown.

Every place that prints configuration (``check-config``, startup errors)
goes through here, so a password or the admin token never reaches a
terminal or a log.
"""

import dataclasses
import re

import psycopg2.extensions

from app.config.schema import Config
from app.domain.secrets import MASK, SecretScrubber, mask_secrets, userinfo

# Never echoed in an error about their value; masked in every dump.
SECRET_KEYS = frozenset({"http.admin_token", "redis.url", "postgres.dsn", "proxy.proxies", "proxy.static"})


def is_secret(path: str) -> bool:
    """``proxy.proxies[2]`` is as secret as ``proxy.proxies``."""
    return re.sub(r"\[\d+\]", "", path) in SECRET_KEYS


def masked_config(config: Config) -> dict:
    """The effective config as a dict, credentials masked and the admin token hidden."""
    shown = dataclasses.asdict(config)
    shown["http"]["admin_token"] = MASK if config.http.admin_token else ""
    shown["redis"]["url"] = mask_secrets(config.redis.url)
    shown["postgres"]["dsn"] = mask_secrets(config.postgres.dsn)
    shown["proxy"]["proxies"] = [mask_secrets(url) for url in config.proxy.proxies]
    shown["proxy"]["static"] = mask_secrets(config.proxy.static)
    return shown


def _password(url: str) -> str:
    """The password of a URL as written: after the user's ``:``, to the last ``@`` (the user name is no secret)."""
    return userinfo(url).partition(":")[2]


def _dsn_password(dsn: str) -> list[str]:
    """A DSN's password as libpq reads it (a key=value ``password``, or a URL's), besides the URL's as written."""
    try:
        parsed = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.Error:
        parsed = {}
    return [parsed.get("password", ""), _password(dsn)]


def secret_values(config: Config) -> list[str]:
    """Every secret the configuration holds: the admin token and each password of a store or a proxy."""
    return [
        config.http.admin_token or "",
        *(_password(url) for url in config.redis.nodes()),  # a cluster's every startup node
        *_dsn_password(config.postgres.dsn),
        *(_password(url) for url in config.proxy.proxies),
    ]


def scrubber(config: Config) -> SecretScrubber:
    """What every error text goes through before it is printed, logged or answered (``SecretScrubber``)."""
    return SecretScrubber(secret_values(config))
