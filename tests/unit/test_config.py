import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from app.config.loader import ConfigError, load_config
from app.config.schema import Config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "marketflow.yaml"
    path.write_text(text)
    return path


def test_shipped_config_loads_with_the_documented_defaults() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "conf" / "marketflow.yaml", env={})
    assert config.mode == "test"
    assert config.http.port == 8080
    assert config.pipeline.workers == 5
    assert config.symbols == ["BTCUSDT", "DOGEUSDT", "TONUSDT", "SOLUSDT", "ETHUSDT"]
    assert [s.port for s in config.sources.live.tcp] == [40101, 40102, 40103]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("htp: {port: 1}", "htp: unknown key"),
        ("http: {prot: 1}", "http.prot: unknown key"),
        ("http: {port: eighty}", "http.port: expected int"),
        ("pipeline: {workers: true}", "pipeline.workers: expected int"),
        ("mode: paper", "mode: must be one of test, live"),
        ("sources: {live: {tcp: [{name: a}]}}", "sources.live.tcp[0].port: required key is missing"),
        ("sources: {live: {tcp: [{name: a, port: 1, extra: 2}]}}", "sources.live.tcp[0].extra: unknown key"),
        ("symbols: BTCUSDT", "symbols: expected a list"),
        ("http: {workers: 0}", "http.workers: must be from 1 to 256"),
        ("leases: {ttl_seconds: 0.5}", "leases.ttl_seconds: must be from 1 to 60"),
        ("window: {raw_seconds: 30}", "window.raw_seconds: must be at least 60"),
        ("pipeline: {workers: 0}", "pipeline.workers: must be greater than zero"),
        ("sources: {test: {exchanges: [exchange1]}}", "exchange name 'exchange1' is used twice"),
        ("a: [", "not valid YAML"),
        ("- 1", "the top level must be a mapping"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text), env={})


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "MARKETFLOW_MODE": "live",
        "MARKETFLOW_HTTP_PORT": "8181",
        "MARKETFLOW_REDIS_URL": "redis://cache:6379/1",
        "MARKETFLOW_POSTGRES_DSN": "postgresql://u@db/x",
    }
    config = load_config(write(tmp_path, "http: {port: 9000}"), env=env)
    assert (config.mode, config.http.port) == ("live", 8181)
    assert (config.redis.url, config.postgres.dsn) == ("redis://cache:6379/1", "postgresql://u@db/x")


def test_bad_environment_override_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"http\.port: expected int"):
        load_config(write(tmp_path, ""), env={"MARKETFLOW_HTTP_PORT": "eighty"})


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "http: {port: 9100}")
    assert load_config(env={"MARKETFLOW_CONFIG": str(path)}).http.port == 9100


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the config file \(No such file"):
        load_config(env={"MARKETFLOW_CONFIG": str(tmp_path / "missing.yaml")})
    with pytest.raises(ConfigError, match=r"cannot read the config file \(Is a directory"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("redis: {socket_timeout: 0}", "redis.socket_timeout: must be greater than zero"),
        ("redis: {socket_timeout: -1}", "redis.socket_timeout: must be greater than zero"),
        ("redis: {socket_timeout: .nan}", "redis.socket_timeout: must be greater than zero"),
        ("redis: {pool_timeout: -1}", "redis.pool_timeout: must be greater than zero"),
        ("redis: {retry_after: -2}", "redis.retry_after: must not be negative"),
        ("postgres: {retry_after: -2}", "postgres.retry_after: must not be negative"),
        ("postgres: {pool_timeout: -1}", "postgres.pool_timeout: must be greater than zero"),
        ("postgres: {connect_timeout: 0}", "postgres.connect_timeout: must be greater than zero"),
        ("postgres: {statement_timeout_ms: -5}", "postgres.statement_timeout_ms: must be greater than zero"),
        ("http: {graceful_timeout: -1}", "http.graceful_timeout: must be greater than zero"),
        ("http: {port: 0}", "http.port: 0 is not a valid TCP port"),
        ("pipeline: {ingest_put_timeout: -1}", "pipeline.ingest_put_timeout: must not be negative"),
        ("pipeline: {cache_batch_interval_ms: -1}", "pipeline.cache_batch_interval_ms: must not be negative"),
        ("aggregator: {flush_interval_seconds: 0}", "aggregator.flush_interval_seconds: must be greater than zero"),
        ("aggregator: {close_grace_seconds: -1}", "aggregator.close_grace_seconds: must not be negative"),
        ("sources: {max_price: 0}", "sources.max_price: must be greater than zero"),
        ("sources: {live: {tcp: [{name: a, port: 0}]}}", r"sources.live.tcp[0].port: 0 is not a valid TCP port"),
        ("sources: {live: {tcp: [{name: a, port: 70000}]}}", r"sources.live.tcp[0].port: 70000 is not a valid"),
        ("sources: {live: {silence_timeout_seconds: 0}}", "sources.live.silence_timeout_seconds: must be greater"),
        ("sources: {live: {max_line_bytes: 0}}", "sources.live.max_line_bytes: must be greater than zero"),
        ("sources: {live: {reconnect_initial_seconds: -1}}", "sources.live.reconnect_initial_seconds: must be"),
        ("sources: {live: {reconnect_max_seconds: 0.1}}", "sources.live.reconnect_max_seconds: must be at least"),
        (
            "sources: {live: {websocket: [{name: b, kind: binance, ping_interval_seconds: -1}]}}",
            "sources.live.websocket[0].ping_interval_seconds: must not be negative",
        ),
        (
            "sources: {live: {websocket: [{name: b, kind: binance, min_connect_interval_seconds: -1}]}}",
            "sources.live.websocket[0].min_connect_interval_seconds: must not be negative",
        ),
        (
            "sources: {live: {websocket: [{name: b, kind: binance, rest_url: 'ftp://x'}]}}",
            "sources.live.websocket[0].rest_url: must be http:// or https:// and a host, e.g. https://api.binance.com",
        ),
        (
            "sources: {live: {websocket: [{name: b, kind: binance, rest_url: 'https://x/api/v3'}]}}",
            "sources.live.websocket[0].rest_url: only the base (scheme, host, port), without a path, query"
            " or credentials",
        ),
        (
            "sources: {live: {websocket: [{name: b, kind: binance, max_connection_age_seconds: -1}]}}",
            "sources.live.websocket[0].max_connection_age_seconds: must not be negative",
        ),
        (
            "sources: {live: {websocket: [{name: b, kind: binance, symbol_silence_seconds: 0}]}}",
            "sources.live.websocket[0].symbol_silence_seconds: must be greater than zero",
        ),
        (
            "sources: {live: {websocket: [{name: b, kind: binance, max_clock_skew_seconds: 0}]}}",
            "sources.live.websocket[0].max_clock_skew_seconds: must be greater than zero",
        ),
        (
            "sources: {live: {websocket: [{name: b, kind: binance, ack_timeout_seconds: -3}]}}",
            "sources.live.websocket[0].ack_timeout_seconds: must be greater than zero",
        ),
        ("symbols: ['']", "symbols[0]: '' must be letters and digits only"),
        ("symbols: [BTCUSDT, 'BTC USDT']", "symbols[1]: 'BTC USDT' must be letters and digits only"),
        ("symbols: ['BTC:USDT']", "symbols[0]: 'BTC:USDT' must be letters and digits only"),
        ("sources: {test: {exchanges: []}}", "sources.test.exchanges: at least one exchange is required"),
        ("sources: {test: {exchanges: ['a:b']}}", "sources.test.exchanges[0]: 'a:b' must be letters"),
        ("sources: {live: {tcp: [{name: 'ex 1', port: 1}]}}", "sources.live.tcp[0].name: 'ex 1' must be letters"),
        ("redis: {key_prefix: 'mf*'}", "redis.key_prefix: must be non-empty, without spaces"),
        ("redis: {key_prefix: 'm[f]'}", "redis.key_prefix: must be non-empty, without spaces"),
        ("redis: {key_prefix: ''}", "redis.key_prefix: must be non-empty, without spaces"),
        ("redis: {url: 'redis://h:70000/0'}", "redis.url: not a valid URL"),
        ("redis: {url: 'localhost:6379'}", "redis.url: must start with redis://"),
        ("redis: {key_prefix: 'm{f}'}", "redis.key_prefix: must be non-empty, without spaces"),
        (
            "redis: {cluster: true, url: 'redis://a:7000,unix:///tmp/r.sock'}",
            "redis.url: must start with redis:// or rediss://",
        ),
        ("redis: {cluster: true, url: 'redis://a:7000, redis://b:70000'}", "redis.url: not a valid URL"),
        ("redis: {cluster: true, url: ' , '}", "redis.url: a cluster needs at least one startup node"),
        ("sources: {max_price: 1.0e+300}", "sources.max_price: must be greater than zero and at most 1e+15"),
        ("http: {port: 65536}", "http.port: 65536 is not a valid TCP port (1-65535)"),
        ("http: {workers: 257}", "http.workers: must be from 1 to 256"),
        ("leases: {ttl_seconds: 61}", "leases.ttl_seconds: must be from 1 to 60"),
        ("aggregator: {checkpoint_seconds: -1}", "aggregator.checkpoint_seconds: must not be negative"),
        ("proxy: {bench_seconds: -1}", "proxy.bench_seconds: must not be negative"),
        ("proxy: {direct_retry_seconds: -1}", "proxy.direct_retry_seconds: must not be negative"),
        (
            "sources: {live: {websocket: [{name: a, kind: okx}, {name: b, kind: bybit, silence_timeout_seconds: 0}]}}",
            "sources.live.websocket[1].silence_timeout_seconds: must be greater than zero",
        ),
        ("aggregator: {spool_path: var/spool/minutes}", "aggregator.spool_path: must end in a file extension"),
    ],
)
def test_out_of_range_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(key)):
        load_config(write(tmp_path, text), env={})


def float_keys(cls: type, path: str) -> Iterator[tuple[str, dict]]:
    """Every float key of the schema, with the YAML that sets it to NaN (in a list's first entry)."""
    hints = typing.get_type_hints(cls)
    required = {"TcpSourceConfig": {"name": "a", "port": 1}, "WebSocketSourceConfig": {"name": "a", "kind": "okx"}}
    for field in dataclasses.fields(cls):
        hint, key = hints[field.name], f"{path}{field.name}"
        if dataclasses.is_dataclass(hint):
            for inner, raw in float_keys(hint, f"{key}."):
                yield inner, {field.name: raw}
        elif typing.get_origin(hint) is list and dataclasses.is_dataclass(entry := typing.get_args(hint)[0]):
            for inner, raw in float_keys(entry, f"{key}[0]."):
                yield inner, {field.name: [{**required[entry.__name__], **raw}]}
        elif hint is float:
            yield key, {field.name: float("nan")}


FLOAT_KEYS = list(float_keys(Config, ""))


@pytest.mark.parametrize(("key", "raw"), FLOAT_KEYS, ids=[key for key, _ in FLOAT_KEYS])
def test_nan_is_out_of_every_range(tmp_path: Path, key: str, raw: dict) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(f"{key}: must ")):
        load_config(write(tmp_path, yaml.safe_dump(raw)), env={})


def test_string_overrides_are_taken_as_strings_never_yaml(tmp_path: Path) -> None:
    env = {
        "MARKETFLOW_POSTGRES_DSN": "host=db password='a: b' dbname=x",  # YAML would make this a mapping
        "MARKETFLOW_REDIS_URL": "redis://:s3cret: x@cache:6379/0",  # and this an error quoting it
        "MARKETFLOW_ADMIN_TOKEN": "0123456789abcdef#yes",
        "MARKETFLOW_MODE": "live",
    }
    config = load_config(write(tmp_path, ""), env=env)
    assert config.postgres.dsn == "host=db password='a: b' dbname=x"
    assert config.redis.url == "redis://:s3cret: x@cache:6379/0"
    assert config.http.admin_token == "0123456789abcdef#yes"
    assert config.mode == "live"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MARKETFLOW_POSTGRES_DSN": "host=db password=s3cret dbname"}, "postgres.dsn: not a valid PostgreSQL"),
        ({"MARKETFLOW_REDIS_URL": "s3cret"}, "redis.url: must start with redis://"),
        ({"MARKETFLOW_REDIS_URL": "redis://:s3cret@[cache:6379/0"}, "redis.url: not a valid URL"),
        ({"MARKETFLOW_REDIS_URL": "redis://:s3cret@cache:63s3cret/0"}, "redis.url: not a valid URL"),
        ({"MARKETFLOW_ADMIN_TOKEN": "s3cret"}, "http.admin_token: must be at least 16 printable"),
        ({"MARKETFLOW_ADMIN_TOKEN": "s3cret s3cret s3cret"}, "http.admin_token: must be at least 16 printable"),
        ({"MARKETFLOW_MODE": "s3cret"}, "mode: must be one of test, live, got 's3cret'"),
    ],
)
def test_a_bad_secret_is_named_never_echoed(tmp_path: Path, env: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ""), env=env)
    assert str(caught.value).startswith(message)
    if "MARKETFLOW_MODE" not in env:
        assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("postgres: {dsn: {password: s3cret}}", "postgres.dsn: expected str, got dict"),
        ("proxy: {proxies: [{password: s3cret}]}", "proxy.proxies[0]: expected str, got dict"),
        ("redis: {url: 42}", "redis.url: expected str, got int"),
        ("http: {allowed_origins: ['https://ok.example/path']}", "http.allowed_origins[0]: must be an origin"),
        ("http: {allowed_origins: ['ok.example']}", "http.allowed_origins[0]: must be an origin"),
        ("http: {header_timeout_seconds: 0}", "http.header_timeout_seconds: must be greater than zero"),
        ("http: {keepalive_seconds: -1}", "http.keepalive_seconds: must be greater than zero"),
        ("http: {max_connections: 5}", "http.max_connections: must be at least 10"),
        ("redis: {url: 'redis://:s3cret@cache:6379/0'}\nbroken: [", "not valid YAML"),
    ],
)
def test_bad_http_and_store_keys(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_allowed_origins_and_limits_load(tmp_path: Path) -> None:
    text = "http: {allowed_origins: ['https://prices.example.com', 'http://10.0.0.5:8080'], max_connections: 50}"
    http = load_config(write(tmp_path, text), env={}).http
    assert http.allowed_origins == ["https://prices.example.com", "http://10.0.0.5:8080"]
    assert (http.max_connections, http.header_timeout_seconds, http.keepalive_seconds, http.admin_token) == (
        50,
        10.0,
        5.0,
        "",
    )
