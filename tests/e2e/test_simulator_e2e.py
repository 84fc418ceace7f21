"""``flask marketflow simulate`` stands in for the exchange programs, and live mode reads it."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.net import free_port, wait_for
from tests.support.service import REPO, Service

FLASK = Path(sys.executable).with_name("flask")


def test_live_mode_reads_the_simulated_exchange_programs(
    make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    ports = [free_port() for _ in range(3)]
    simulator = subprocess.Popen(
        [str(FLASK), "--app", "wsgi", "marketflow", "simulate", "--ports", ",".join(map(str, ports)), "--rate", "20"],
        cwd=REPO,
        env={**os.environ, "MARKETFLOW_CONFIG": str(REPO / "conf" / "marketflow.yaml")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        tcp = [{"name": f"exchange{i}", "port": port} for i, port in enumerate(ports, start=1)]
        service = start_service(make_config(sources={"live": {"tcp": tcp, "websocket": []}}))
        for name in ("exchange1", "exchange2", "exchange3"):
            for symbol in ("BTCUSDT", "DOGEUSDT", "TONUSDT", "SOLUSDT", "ETHUSDT"):
                body = wait_for(
                    lambda n=name, s=symbol: service.get(f"/prices/average/{n}/{s}?period=5s")[1].get("count")
                )
                assert body > 0
        sources = service.get("/health")[1]["sources"]
        assert [(s["name"], s["state"], s["decode_errors"]) for s in sources] == [
            ("exchange1", "connected", {}),
            ("exchange2", "connected", {}),
            ("exchange3", "connected", {}),
        ]
    finally:
        simulator.send_signal(signal.SIGTERM)
        out, err = simulator.communicate(timeout=10)
    assert simulator.returncode == 0, err
    assert f"ports [{ports[0]}, {ports[1]}, {ports[2]}]" in out
