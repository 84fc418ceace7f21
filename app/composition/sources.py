"""The feeds of each mode, built from the configuration: synthetic exchanges (test), the exchange programs over
TCP and the real exchanges over WebSocket (live), a wide exchange as one feed per shard (``domain.feed_map``)."""

from collections.abc import Sequence

from app.adapters.feeds.exchanges import EXCHANGES
from app.adapters.feeds.synthetic import SyntheticSource
from app.adapters.feeds.tcp_lines import TcpLineSource
from app.adapters.feeds.websocket.connection import WebSocketSettings
from app.adapters.feeds.websocket.feed import FeedLimits, StaggerSlots, WebSocketFeed
from app.adapters.feeds.websocket.listing import Discovery, ExchangeListing, Lineup
from app.adapters.net.connector import Connector, tls_context
from app.application.backfill import Backfill
from app.application.backoff import Backoff, ConnectPacer
from app.application.ports.feeds import FeedSource
from app.application.trade_continuity import TradeContinuity
from app.application.trade_gaps import TradeGaps
from app.config.schema import Config, WebSocketSourceConfig
from app.domain.clock_skew import ClockSkew
from app.domain.feed_map import FeedMap
from app.domain.time_grid import MS_PER_SECOND

FeedsByMode = dict[str, Sequence[FeedSource]]


def build_feed_map(config: Config) -> FeedMap:
    """How many feeds each exchange is split into, as every process of this configuration sees it."""
    shards = {name: config.sources.test.shards for name in config.sources.test.exchanges}
    shards.update({ws.name: ws.shard_count() for ws in config.sources.live.websocket})
    return FeedMap(shards)


def _split(feeds: FeedMap, exchange: str, symbols: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Each feed of ``exchange`` with the symbols it holds, in the symbols' order; a feed holding none of a fixed
    list is left out (no symbol can ever map to it)."""
    held: dict[str, list[str]] = {feed: [] for feed in feeds.feeds_of(exchange)}
    for symbol in symbols:
        held[feeds.feed_of(exchange, symbol)].append(symbol)
    return [(feed, shard) for feed, shard in held.items() if shard]


def feed_sources(
    config: Config, feeds: FeedMap, connector: Connector, continuity: TradeContinuity, gaps: TradeGaps
) -> FeedsByMode:
    live, test = config.sources.live, config.sources.test
    return {
        "test": [
            SyntheticSource(feed, exchange, symbols, test.rate_per_symbol)
            for exchange in test.exchanges
            for feed, symbols in _split(feeds, exchange, config.symbols)
        ],
        "live": [
            TcpLineSource(
                tcp.name,
                frozenset(config.symbols),
                tcp.host,
                tcp.port,
                live.max_line_bytes,
                live.silence_timeout_seconds,
                connector,
                Backoff(live.reconnect_initial_seconds, live.reconnect_max_seconds),
            )
            for tcp in live.tcp
        ]
        + [
            source
            for ws in live.websocket
            for source in _websocket_sources(ws, config, feeds, connector, continuity, gaps)
        ],
    }


def _websocket_sources(
    ws: WebSocketSourceConfig,
    config: Config,
    feeds: FeedMap,
    connector: Connector,
    continuity: TradeContinuity,
    gaps: TradeGaps,
) -> list[WebSocketFeed]:
    """One feed per shard. The shards of one exchange share its REST client (its history and listing, and so their
    pacing), its listing, its connection pacer and its planned-reconnect slots."""
    exchange = EXCHANGES[ws.kind]
    tls = tls_context(ws.ca_file)
    settings = WebSocketSettings(
        url=ws.url or exchange.default_url,
        connect_timeout=ws.connect_timeout_seconds,
        silence_timeout=ws.silence_timeout_seconds,
        ack_timeout=ws.ack_timeout_seconds,
        ping_interval=ws.ping_interval_seconds or exchange.default_ping_interval,
        tls=tls,
        symbol_silence=ws.symbol_silence_seconds,
    )
    age = ws.max_connection_age_seconds or exchange.max_connection_age
    # Planned reconnects a minute apart (or a fortieth of the age, if shorter), so one exchange's never cut together.
    limits = FeedLimits(ws.max_symbols_per_connection, age, 0.0 if age is None else min(60.0, age / 40))
    client = exchange.rest_client(ws.name, ws.rest_url, connector, ws.connect_timeout_seconds, tls)
    discovery, listing = None, None
    if ws.discover is not None:
        discover = ws.discover
        discovery = Discovery(tuple(discover.quotes), discover.refresh_seconds, discover.max_symbols)
        listing = ExchangeListing(exchange, client, discover.refresh_seconds)
    history = exchange.trade_history(ws.name, client, {} if listing is None else listing.spellings)
    configured = ws.symbols or ([] if ws.discover is not None else config.symbols)
    # Never faster than the exchange's documented limit on new connections, whatever the configuration says.
    pacer = ConnectPacer(max(ws.min_connect_interval_seconds, exchange.connect_interval))
    stagger = StaggerSlots()
    live = config.sources.live
    return [
        WebSocketFeed(
            feed,
            ws.name,
            exchange,
            Lineup(feed, ws.name, feeds, configured, discovery, listing),
            settings,
            limits,
            connector,
            (live.reconnect_initial_seconds, live.reconnect_max_seconds),
            pacer,
            stagger,
            continuity,
            Backfill(feed, ws.name, history, exchange.sequential_ids, gaps),
            ClockSkew(ws.max_clock_skew_seconds * MS_PER_SECOND),
        )
        for feed in (feeds.feeds_of(ws.name) if ws.discover else [f for f, _ in _split(feeds, ws.name, configured)])
    ]
