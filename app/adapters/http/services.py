"""What the HTTP layer may use: a narrow view of the services, built by the composition root.

Blueprints reach it through the app's extensions; they never see the
container, its pipeline or its adapters.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app
from prometheus_client import CollectorRegistry

from app.application.candle_queries import CandleQueries
from app.application.health import HealthService
from app.application.modes import ModeService
from app.application.pair_catalogue import PairCatalogue
from app.application.price_queries import PriceQueries
from app.application.price_stream import PriceStream
from app.application.proxy_service import ProxyService
from app.application.shared_control import SharedControl
from app.domain.market import Market

if TYPE_CHECKING:  # access.py reads its policy through this view
    from app.adapters.http.access import AccessPolicy

EXTENSION_KEY = "marketflow.http"


@dataclass(frozen=True)
class HttpServices:
    queries: PriceQueries
    candles: CandleQueries
    catalogue: PairCatalogue
    modes: ModeService
    health: HealthService
    proxy: ProxyService
    control: SharedControl
    stream: PriceStream
    market: Market
    access: "AccessPolicy"
    registry: CollectorRegistry


def services() -> HttpServices:
    return current_app.extensions[EXTENSION_KEY]
