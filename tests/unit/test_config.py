from pathlib import Path

import pytest

from app.config.loader import ConfigError, load_config


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
        ("http: {workers: 2}", "http.workers: only 1 worker"),
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
