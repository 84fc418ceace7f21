"""Which configuration keys hold secrets, and the config as it may be shown.

Every place that prints configuration (``check-config``, startup errors)
goes through here, so a password or the admin token never reaches a
terminal or a log.
"""

import dataclasses
import re

from app.config.schema import Config
from app.domain.secrets import MASK, mask_secrets

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
