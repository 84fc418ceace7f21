"""Who may change the service, through gunicorn: loopback is the real socket's peer address here."""

from collections.abc import Callable

from tests.service.test_access import only_loopback_by_a_loopback_name_may_control_without_a_token
from tests.support.service import Service


def test_without_a_token_only_loopback_by_a_loopback_name_may_control(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    only_loopback_by_a_loopback_name_may_control_without_a_token(make_config, start_service)
