"""Which control state a process starts with: once a switch is made through the API, the saved state wins over
the configured mode and proxy settings at every start, from Redis or, while it is down, from this host's copy."""

from app.application.modes import ModeService
from app.application.ports.storage import StorageUnavailable
from app.application.proxy_routing import ProxyRouter
from app.application.proxy_service import ProxyService
from app.application.shared_control import SharedControl
from app.domain.proxy_endpoint import parse_proxy_url
from app.domain.proxy_settings import ProxySettings
from tests.support.fakes import MemoryControlChannel, ScriptedSource
from tests.unit.test_proxy_service import Held, NoDirectRoute, NoFeeds

A = parse_proxy_url("http://10.0.0.1:3128")
B = parse_proxy_url("socks5://10.0.0.2:1080")


class MemoryCopy:
    def __init__(self) -> None:
        self.state: dict[str, object] | None = None

    def load(self) -> dict[str, object] | None:
        return self.state

    def save(self, state: dict[str, object]) -> None:
        self.state = dict(state)


class DownChannel(MemoryControlChannel):
    def load(self) -> dict[str, object] | None:
        raise StorageUnavailable("redis unavailable: ConnectionError")


def process(
    mode: str, proxies: list, channel: MemoryControlChannel, copy: MemoryCopy
) -> tuple[SharedControl, ModeService, ProxyService]:
    """A process started from a configuration of ``mode`` and ``proxies`` (rotating, enabled), restored."""
    sources = {"test": [ScriptedSource("t", [])], "live": [ScriptedSource("ex1", [])]}
    modes = ModeService(NoFeeds(), sources, mode)
    router = ProxyRouter(ProxySettings(True, "rotating", "fallback", list(proxies), None, 60, 300))
    proxy = ProxyService(router, modes, NoDirectRoute(), Held())
    control = SharedControl(channel, copy, modes, proxy)
    control.restore()
    return control, modes, proxy


def test_before_any_switch_the_configuration_is_the_state() -> None:
    _, modes, proxy = process("live", [A, B], MemoryControlChannel(), MemoryCopy())
    assert (modes.mode, proxy.shared()["proxies"]) == ("live", [str(A), str(B)])


def test_a_switch_wins_over_the_configuration_at_every_start_until_switched_again() -> None:
    channel, copy = MemoryControlChannel(), MemoryCopy()
    control, modes, _ = process("live", [A, B], channel, copy)
    control.change(lambda: modes.switch("test"))
    _, edited, proxy = process("live", [B], channel, MemoryCopy())  # another configured mode and proxy list
    assert (edited.mode, proxy.shared()["proxies"]) == ("test", [str(A), str(B)])
    _, from_copy, _ = process("live", [B], DownChannel(), copy)  # Redis down: this host's copy, the same rule
    assert from_copy.mode == "test"
    control.change(lambda: modes.switch("live"))
    _, switched_back, _ = process("test", [B], channel, MemoryCopy())
    assert switched_back.mode == "live"
