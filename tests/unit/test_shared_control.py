"""Which control state a process starts with: a switch made at runtime survives restarts, and edited configured
settings win once, at their first start, in Redis or from this host's copy alike; a rolling deploy never flips."""

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

    def publish(self, state: dict[str, object]) -> None:
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


def test_a_runtime_switch_survives_a_restart_under_the_same_configuration() -> None:
    channel, copy = MemoryControlChannel(), MemoryCopy()
    control, modes, _ = process("live", [A, B], channel, copy)
    control.change(lambda: modes.switch("test"))
    _, restarted, _ = process("live", [A, B], channel, MemoryCopy())
    assert restarted.mode == "test"
    _, from_copy, _ = process("live", [A, B], DownChannel(), copy)  # Redis down: this host's copy, same rule
    assert from_copy.mode == "test"


def test_a_configuration_edited_since_the_switch_wins_and_is_published() -> None:
    channel, copy = MemoryControlChannel(), MemoryCopy()
    control, modes, _ = process("live", [A, B], channel, copy)
    control.change(lambda: modes.switch("test"))
    _, edited, proxy = process("live", [B], channel, MemoryCopy())  # the operator changed the proxy list
    assert edited.mode == "live"
    assert proxy.shared()["proxies"] == [str(B)]
    assert (channel.state or {})["mode"] == "live"  # told to every process
    _, next_one, _ = process("live", [B], channel, MemoryCopy())  # and kept by the next start alike
    assert next_one.mode == "live"
    _, from_copy, _ = process("live", [B], DownChannel(), copy)  # from this host's copy (saying test): the same rule
    assert from_copy.mode == "live"


def test_a_rolling_deploy_never_flips_back_and_a_switch_made_meanwhile_stays() -> None:
    channel = MemoryControlChannel()
    old, old_modes, _ = process("live", [A, B], channel, MemoryCopy())
    old.change(lambda: old_modes.switch("test"))
    _, new_modes, _ = process("live", [B], channel, MemoryCopy())  # the first host on the edited configuration
    assert new_modes.mode == "live"
    old._changed_elsewhere()  # the old host hears of it and applies it
    assert old_modes.mode == "live"
    _, restarted_old, old_proxy = process("live", [A, B], channel, MemoryCopy())  # an old worker restarts meanwhile
    assert (restarted_old.mode, old_proxy.shared()["proxies"]) == ("live", [str(B)])  # seen before: no flip back
    old.change(lambda: old_modes.switch("test"))  # the operator switches, through an old host
    _, restarted_new, _ = process("live", [B], channel, MemoryCopy())
    assert restarted_new.mode == "test"  # kept by the new configuration's next start too


def test_a_state_saved_before_fingerprints_is_kept_and_stamped() -> None:
    channel = MemoryControlChannel()
    channel.state = {
        "mode": "test",
        "proxy": {"enabled": False, "mode": "disabled", "policy": "fallback", "proxies": [], "static": None},
    }
    _, modes, _ = process("live", [A, B], channel, MemoryCopy())
    assert modes.mode == "test"
    _, again, _ = process("live", [A, B], channel, MemoryCopy())
    assert again.mode == "test"
    assert isinstance((channel.state or {}).get("configured"), list)
