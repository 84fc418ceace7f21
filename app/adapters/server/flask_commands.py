"""``flask --app wsgi marketflow ...``: management commands. None starts the pipeline."""

import json
import signal
import sys
import time

import click
import gevent
import gevent.event
import psycopg2
from flask import current_app

from app.adapters.feeds.simulator import ExchangeProgram
from app.adapters.postgres.history import make_ahead, storage
from app.adapters.postgres.schema import MIGRATIONS
from app.adapters.postgres.schema import migrate as apply_migrations
from app.adapters.postgres.schema import version as schema_version
from app.adapters.server.runtime import runtime
from app.config.masking import masked_config, scrubber
from app.config.schema import Config
from app.domain.iso_instant import iso_ms
from app.domain.time_grid import seconds_to_ms


@click.group("marketflow")
def marketflow_commands() -> None:
    """marketflow management commands."""


def _connected(config: Config) -> psycopg2.extensions.connection:
    """An autocommit connection to the configured PostgreSQL, or exit naming it (never its secrets)."""
    try:
        conn = psycopg2.connect(config.postgres.dsn, connect_timeout=config.postgres.connect_timeout)
    except psycopg2.Error as exc:
        sys.exit(scrubber(config)(f"marketflow: cannot reach PostgreSQL at {config.postgres.dsn}: {exc}".strip()))
    conn.autocommit = True
    return conn


@marketflow_commands.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the PostgreSQL schema, and the history partitions of the week ahead."""
    conn = _connected(runtime(current_app).config)
    try:
        applied = apply_migrations(conn)
        with conn.cursor() as cur:
            made = make_ahead(cur, seconds_to_ms(time.time()))
    finally:
        conn.close()
    click.echo(f"applied migrations {applied}" if applied else "schema is up to date")
    click.echo(f"{made} partitions made ahead")


@marketflow_commands.command("storage")
def storage_command() -> None:
    """Print each history table's size, its oldest and newest partition, and what retention drops next."""
    config = runtime(current_app).config
    conn = _connected(config)
    try:
        with conn.cursor() as cur:
            found = schema_version(cur)
            if found < len(MIGRATIONS):
                sys.exit(f"marketflow: the schema is at version {found} of {len(MIGRATIONS)}: run `marketflow migrate`")
            tiers = storage(cur, config.retention.tiers())
    finally:
        conn.close()
    click.echo("| table | kept | partitions | size | oldest | newest | dropped next |")
    click.echo("| --- | --- | --- | --- | --- | --- | --- |")
    for t in tiers:
        names = list(t.sizes)
        kept = f"{t.kept_days} days" if t.kept_days else "for ever"
        drop = f"{t.next_drop[0]} on {iso_ms(t.next_drop[1])[:10]}" if t.next_drop else "nothing"
        oldest, newest = (names[0], names[-1]) if names else ("-", "-")
        size = f"{sum(t.sizes.values()) / 2**20:,.1f} MiB"
        click.echo(f"| {t.tier.table} | {kept} | {len(names)} | {size} | {oldest} | {newest} | {drop} |")


@marketflow_commands.command("check-config")
def check_config_command() -> None:
    """Validate the configuration and print it as the service will use it."""
    click.echo(json.dumps(masked_config(runtime(current_app).config), indent=2))
    click.echo("config OK")


@marketflow_commands.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--ports", default="", help="Comma-separated ports [default: the configured TCP sources' ports].")
@click.option("--symbols", default="", help="Comma-separated symbols [default: the configured symbols].")
@click.option("--rate", default=1.0, show_default=True, type=click.FloatRange(min=0.01), help="Lines/s per symbol.")
def simulate_command(host: str, ports: str, symbols: str, rate: float) -> None:
    """Serve a stand-in for the exchange programs (one JSON line per trade over TCP)."""
    config = runtime(current_app).config
    try:
        port_list = [int(p) for p in ports.split(",")] if ports else [s.port for s in config.sources.live.tcp]
    except ValueError:
        raise click.BadParameter(f"not a list of ports: {ports!r}", param_hint="--ports") from None
    symbol_list = [s.strip().upper() for s in symbols.split(",") if s.strip()] or config.symbols
    programs = [ExchangeProgram(host, port, symbol_list, rate) for port in port_list]
    try:
        walkers = [program.serve() for program in programs]
    except OSError as exc:
        for program in programs:
            program.stop()
        sys.exit(f"marketflow: cannot listen: {exc}")
    click.echo(f"serving {', '.join(symbol_list)} at {rate:g} lines/s per symbol on {host} ports {port_list}")
    stop = gevent.event.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    gevent.killall(walkers)
    for program in programs:
        program.stop()
