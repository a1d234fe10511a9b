"""Assemble and run the monitor: ``rebellion serve`` lands here.

:func:`build` wires the parts (host sampler, history store, transformer, alert rules,
WebSocket hub, Prometheus exposition) into an ASGI app; :func:`serve` runs it with
uvicorn after the bind check: a non-loopback address needs a token. Whatever the bind,
only known ``Host`` names are answered (loopback ones, ``--allow-host``, the bound one).
With ``--otlp URL`` (or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``) :func:`start_export`
also sends the host metrics and the primitives' metrics to an OTLP/HTTP receiver.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import config
from ..errors import ConfigError
from ..integrations._otlp_endpoint import check_endpoint, endpoint_in_environment
from .app import create_app
from .hosts import AllowedHosts, check_origins
from .security import Guard, RedactTokens, is_loopback
from .service import MonitorService
from .store import HistoryStore

__all__ = ["DEFAULT_DB", "ServeOptions", "build", "install_redaction", "serve", "start_export"]

_log = logging.getLogger("rebellion.monitor")

_REDIS = ("redis://", "rediss://", "unix://")

DEFAULT_DB = "rebellion-monitor.db"
"""History file used when ``--db`` is not given (in the working directory)."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``rebellion serve`` was asked for."""

    host: str = "127.0.0.1"
    port: int = 8765
    db: str = DEFAULT_DB
    token: str | None = None
    interval: float = 1.0
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    warmup: float | None = None
    """Seconds of history before anomalies and incidents count (None: the defaults)."""
    otlp: str | None = None
    """OTLP/HTTP receiver base URL (None: ``OTEL_EXPORTER_OTLP_*`` if set, else no export)."""
    publish: str | None = None
    """Redis URL to publish this host to (an agent of the fleet)."""
    fleet: str | None = None
    """Redis URL to read the fleet from (a hub)."""
    host_id: str | None = None
    """This host's id in the fleet (default: the host name)."""

    def checked(self) -> ServeOptions:
        """Return the options with the token and allowed hosts taken from the environment.

        ``REBELLION_TOKEN`` and ``REBELLION_ALLOWED_HOSTS`` (comma-separated) apply when
        the option itself is not given.

        Raises:
            ConfigError: on a non-loopback bind without a token, a bad port/interval or
                an allowed host that is not a host.
        """
        token = self.token or config.setting("token") or None
        hosts = self.allowed_hosts or tuple(config.setting("allowed_hosts") or ())
        AllowedHosts(hosts, bind=self.host)  # fail now, not at the first request
        origins = check_origins(self.allowed_origins)
        if not 0 <= self.port <= 65535:
            raise ConfigError("port", "an integer in [0, 65535]", self.port)
        if not 0.05 <= self.interval <= 3600:
            raise ConfigError("interval", "a number of seconds in [0.05, 3600]", self.interval)
        if not is_loopback(self.host) and not token:
            raise ConfigError(
                "token",
                f"set (--token or REBELLION_TOKEN) to bind a non-loopback address like "
                f"{self.host!r}",
                None,
            )
        if token is not None and len(token) < 16:
            raise ConfigError("token", "at least 16 characters", "<hidden>")
        if self.warmup is not None and not 0 <= self.warmup <= 86400:
            raise ConfigError("warmup", "a number of seconds in [0, 86400]", self.warmup)
        for name in ("publish", "fleet"):
            url = getattr(self, name)
            if url is None:
                continue
            if not (isinstance(url, str) and url.startswith(_REDIS)):
                raise ConfigError(name, "a Redis URL such as redis://127.0.0.1:6379/0", url)
            if importlib.util.find_spec("redis") is None:
                raise ConfigError(
                    name, "the redis package: pip install 'system-rebellion[redis]'", url
                )
        if self.host_id is not None:
            from ..fleet._keys import check_host_id

            check_host_id(self.host_id)
        otlp = None if self.otlp is None else check_endpoint(self.otlp, "otlp")
        standard = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        if otlp is None and standard:
            check_endpoint(standard, "OTEL_EXPORTER_OTLP_ENDPOINT")
        return dataclasses.replace(
            self, token=token, allowed_hosts=hosts, allowed_origins=origins, otlp=otlp
        )


def build(options: ServeOptions, **service_options: Any) -> tuple[Guard, MonitorService]:
    """Return the guarded app and its service for ``options`` (already checked)."""
    if options.db != ":memory:":
        Path(options.db).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    from prometheus_client import CONTENT_TYPE_LATEST

    from ..metrics import MetricsCollector

    store = HistoryStore(options.db)
    from .alerts import MonitorAlerts
    from .analysis import HostAnalyser
    from .host import HostCollector
    from .incident_store import IncidentStore
    from .incidents import IncidentConfig, IncidentTracker

    anomaly = None
    if options.warmup is not None:
        anomaly = {"warmup": max(10, round(options.warmup / options.interval))}
    service_options.setdefault("metrics", MetricsCollector("monitor"))
    service_options.setdefault("alerts", MonitorAlerts())
    service_options.setdefault(
        "analyser", HostAnalyser(sample_interval=options.interval, anomaly=anomaly)
    )
    service_options.setdefault("host", HostCollector())
    if "incidents" not in service_options:
        config = (
            IncidentConfig() if options.warmup is None else IncidentConfig(warmup=options.warmup)
        )
        service_options["incidents"] = IncidentTracker(
            interval=options.interval,
            host=service_options["host"],
            analyser=service_options["analyser"],
            store=IncidentStore(options.db),
            config=config,
        )
    service = MonitorService(store, interval=options.interval, **service_options)
    if service.health is None:
        from .health import MonitorHealth

        service.health = MonitorHealth(service)
    metrics = service.metrics
    fleet = _link_fleet(options, service)

    def exposition() -> tuple[bytes, str]:
        return metrics.prometheus_text().encode(), CONTENT_TYPE_LATEST

    app = create_app(
        service,
        token=options.token,
        allowed_origins=options.allowed_origins,
        allowed_hosts=options.allowed_hosts,
        bind=options.host,
        metrics_text=exposition if metrics is not None else None,
        extra_status=service.health.status,
        fleet=fleet,
    )
    return app, service


def start_export(options: ServeOptions, service: MonitorService) -> Any:
    """Start sending the monitor's host and primitive metrics over OTLP, if asked.

    Asked means ``options.otlp`` is set, or one of the standard
    ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variables is. The host metrics are the latest
    sample's, under the ``system.*`` conventions; ``service.name`` is
    ``rebellion-monitor`` unless ``OTEL_SERVICE_NAME`` says otherwise.

    Returns:
        The running :class:`~rebellion.integrations.OTLPExport` (shut it down when the
        server stops), or None when no export was asked for.

    Raises:
        ConfigError: ``--otlp`` was given but the ``otel`` extra is not installed.
    """
    if options.otlp is None and not endpoint_in_environment():
        return None
    try:
        from ..integrations.otlp import start_otlp
    except ImportError as error:
        if options.otlp is None:  # only the environment asked: say so and go on
            _log.warning("OTLP export skipped: the 'otel' extra is missing (%s)", error.name)
            return None
        raise ConfigError(
            "otlp",
            "used with the 'otel' extra installed: pip install 'system-rebellion[otel]'",
            options.otlp,
        ) from None

    def latest() -> Any:
        snapshot = service.snapshot()
        return None if snapshot is None else snapshot.get("values")

    return start_otlp(options.otlp, service_name="rebellion-monitor", host=latest)


def _link_fleet(options: ServeOptions, service: MonitorService) -> Any:
    """Make the service an agent and/or a hub as asked; return the hub's view or None."""
    if options.publish is not None:
        from ..fleet import leave
        from .fleet import AgentLink

        leave()  # REBELLION_FLEET_URL may have joined this process already: the agent wins

        health = service.health

        def status() -> dict[str, Any]:
            found = health.status() if health is not None else {}
            incidents = service.incidents
            found["incidents_open"] = None if incidents is None else incidents.open_count()
            return dict(found)

        agent = AgentLink(
            options.publish, host_id=options.host_id, interval=options.interval, status=status
        )
        service.add_relay(agent.relay)
        service.add_companion(agent)
    if options.fleet is None:
        return None
    from .fleet import HubLink

    hub = HubLink(options.fleet, publish=service.hub.publish)
    service.add_companion(hub)
    return hub.view


def install_redaction() -> None:
    """Scrub tokens from uvicorn's log records (access lines carry query strings)."""
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def serve(options: ServeOptions) -> None:
    """Run the monitor until interrupted."""
    import uvicorn

    options = options.checked()
    app, service = build(options)
    export = start_export(options, service)
    install_redaction()
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level="info",
        ws_max_size=64 * 1024,
        # Per-client deflate would compress the same sample once per client: at 500
        # clients that is most of the server's CPU. Samples are small; send them plain.
        ws_per_message_deflate=False,
        lifespan="on",
        server_header=False,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        if export is not None:
            export.shutdown()
