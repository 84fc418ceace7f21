import pytest

from app.domain.secrets import mask_secrets


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
