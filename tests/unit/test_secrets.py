import dataclasses

import pytest

from app.config.masking import scrubber
from app.config.schema import Config, RedisConfig
from app.domain.secrets import SecretScrubber, mask_secrets


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://mf:s3cret@cache:6379/0", "redis://mf:***@cache:6379/0"),
        ("postgresql://mf:p@ss@w0rd@db:5432/x", "postgresql://mf:***@db:5432/x"),
        ("postgresql://m%40f:s%40cr%3Aet@db/x", "postgresql://m%40f:***@db/x"),
        ("socks5://u:p'w\"d@proxy:1080", "socks5://u:***@proxy:1080"),
        ("host=db user=mf password=s3cret dbname=x", "host=db user=mf password=*** dbname=x"),
        ("host=db password = 's3 cr\\'et' dbname=x", "host=db password = *** dbname=x"),
        ("postgresql://db/x?sslmode=require&password=s3cret", "postgresql://db/x?sslmode=require&password=***"),
        (
            "failed: connect to redis://:s3cret@cache:6379/0: refused",
            "failed: connect to redis://:***@cache:6379/0: refused",
        ),
        ("redis://mf@cache:6379/0", "redis://mf@cache:6379/0"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
        ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
        ("no secrets here", "no secrets here"),
    ],
)
def test_every_form_is_masked(text: str, shown: str) -> None:
    assert mask_secrets(text) == shown


# What libpq printed for postgresql://u:<password>@127.0.0.1:5/db with each password written unencoded.
LIBPQ = [
    ("pa@ss-w0rd.t3G", 'could not translate host name "ss-w0rd.t3G@127.0.0.1" to address: Name or service not known'),
    ("pa@ss:t3G", 'invalid integer value "t3G@127.0.0.1:5" for connection option "port"'),
    ("p/a@ss", 'invalid integer value "p" for connection option "port"'),
]


@pytest.mark.parametrize(("password", "said"), LIBPQ)
def test_a_fragment_of_a_configured_secret_is_hidden_from_a_drivers_words(password: str, said: str) -> None:
    scrub = SecretScrubber(["unrelated-token-0123456789", password])
    shown = scrub(f"cannot reach PostgreSQL at postgresql://u:{password}@127.0.0.1:5/db: {said}")
    assert shown.startswith("cannot reach PostgreSQL at postgresql://u:***@127.0.0.1:5/db: ")
    assert '"***"' in shown
    for piece in ("t3G", "ss-w0rd", '"p"', "pa@"):
        assert piece not in shown


def test_a_scrubber_hides_every_form_of_a_secret_and_leaves_other_words_alone() -> None:
    scrub = SecretScrubber(["s3cret@F", "", "tok%40en-abcdef"])
    assert scrub("s3cret@F, s3cret%40F, tok@en-abcdef, tok%40en-abcdef") == "***, ***, ***, ***"
    assert scrub('connection option "port" refused for "u"') == 'connection option "port" refused for "u"'
    assert scrub("redis://:x@h:1/0 and password=zz") == "redis://:***@h:1/0 and password=***"
    assert SecretScrubber([])("s3cret password=zz") == "s3cret password=***"


def test_a_clusters_every_startup_node_has_its_password_hidden_and_nothing_else() -> None:
    """Split as the client splits them: read whole, the URLs made one "password" reaching from the first node's
    password to the second's, and the words, hosts and ports inside it were hidden from every log line."""
    nodes = "redis://:pw1@h1:7000,redis://:pw2@h2:7001"
    config = dataclasses.replace(Config(), redis=RedisConfig(url=nodes, cluster=True))
    scrub = scrubber(config)
    assert scrub("redis://h2:7001 refused pw1, then pw2") == "redis://h2:7001 refused ***, then ***"
