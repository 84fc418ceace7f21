"""The feeds of each mode, built from the configuration: synthetic exchanges (test), the exchange programs over
TCP and the real exchanges over WebSocket (live)."""

from collections.abc import Sequence

from app.adapters.feeds.exchanges import EXCHANGES
from app.adapters.feeds.synthetic import SyntheticSource
from app.adapters.feeds.tcp_lines import TcpLineSource
from app.adapters.feeds.websocket_source import WebSocketSettings, WebSocketSource
from app.adapters.net.connector import Connector, tls_context
from app.application.backfill import Backfill
from app.application.backoff import Backoff, ConnectPacer
from app.application.ports.feeds import FeedSource
from app.application.trade_continuity import TradeContinuity
from app.application.trade_gaps import TradeGaps
from app.config.schema import Config, WebSocketSourceConfig
from app.domain.clock_skew import ClockSkew

FeedsByMode = dict[str, Sequence[FeedSource]]


def feed_sources(config: Config, connector: Connector, continuity: TradeContinuity, gaps: TradeGaps) -> FeedsByMode:
    live = config.sources.live
    return {
        "test": [
            SyntheticSource(name, config.symbols, config.sources.test.rate_per_symbol)
            for name in config.sources.test.exchanges
        ],
        "live": [
            TcpLineSource(
                tcp.name,
                tcp.host,
                tcp.port,
                live.max_line_bytes,
                live.silence_timeout_seconds,
                connector,
                Backoff(live.reconnect_initial_seconds, live.reconnect_max_seconds),
            )
            for tcp in live.tcp
        ]
        + [_websocket_source(ws, config, connector, continuity, gaps) for ws in live.websocket],
    }


def _websocket_source(
    ws: WebSocketSourceConfig, config: Config, connector: Connector, continuity: TradeContinuity, gaps: TradeGaps
) -> WebSocketSource:
    protocol = EXCHANGES[ws.kind](ws.symbols or config.symbols)
    tls = tls_context(ws.ca_file)
    settings = WebSocketSettings(
        url=ws.url or protocol.default_url,
        connect_timeout=ws.connect_timeout_seconds,
        silence_timeout=ws.silence_timeout_seconds,
        ack_timeout=ws.ack_timeout_seconds,
        ping_interval=ws.ping_interval_seconds or protocol.default_ping_interval,
        tls=tls,
        max_connection_age=ws.max_connection_age_seconds or protocol.max_connection_age,
        symbol_silence=ws.symbol_silence_seconds,
    )
    history = protocol.trade_history(ws.name, ws.rest_url, connector, ws.connect_timeout_seconds, tls)
    live = config.sources.live
    return WebSocketSource(
        ws.name,
        protocol,
        settings,
        connector,
        Backoff(live.reconnect_initial_seconds, live.reconnect_max_seconds),
        ConnectPacer(ws.min_connect_interval_seconds),
        continuity,
        Backfill(ws.name, history, protocol.sequential_ids, gaps),
        ClockSkew(ws.max_clock_skew_seconds * 1000),
    )
