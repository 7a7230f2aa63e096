"""Prometheus metrics (F20): counts only; nothing that names a circle, a member or an address.

Every series is a number about the whole process: circles, members, connections, frames by
type, rejects by error code, closes by reason, timings as histograms. No ``*_created``
series (they double the output and carry nothing a host graphs). ``circle_connections`` counts
this node's own sockets, so summing it over the nodes of a cluster counts each member once.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from circle_server.actions import CloseCode
from circle_server.registry import Registry
from protocol.errors import ErrorCode

REFUSALS = {
    CloseCode.TOO_MANY_CONNECTIONS: "too_many_connections",
    CloseCode.TIMEOUT: "hello_timeout",
    CloseCode.TOO_BIG: "frame_too_big",
}
"""Connection-level refusals (no error frame, so not in ``circle_rejects``), by close code."""
GATE_REFUSALS = ("fd_limit", "handshakes", "slow_reader")
"""Refusals before or beside the websocket (circle_server/gate.py), by name."""
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CLOSE_NAMES = {
    value: name.lower() for name, value in vars(CloseCode).items() if isinstance(value, int)
}
FRAME_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
LAG_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DELIVERY_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10)

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


def version() -> str:
    """The installed version of whichever distribution carries this package."""
    for name in ("circle-support", "circle-support-server"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


class ProcessMetrics(Collector):
    """The standard ``process_*`` series, read from this process only (``/proc/self`` and
    ``getrusage``), so they work under systemd's ``ProcSubset=pid`` too."""

    def __init__(self) -> None:
        self.started = time.time()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def collect(self) -> Iterable[Metric]:
        times = os.times()
        yield CounterMetricFamily(
            "process_cpu_seconds", "CPU time used, user and system", times.user + times.system
        )
        try:
            with open("/proc/self/statm", "rb") as statm:
                rss = int(statm.read().split()[1]) * self.page
        except (OSError, IndexError, ValueError):
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, as a floor
        yield GaugeMetricFamily("process_resident_memory_bytes", "Resident memory", rss)
        try:
            yield GaugeMetricFamily(
                "process_open_fds", "Open file descriptors", len(os.listdir("/proc/self/fd"))
            )
        except OSError:
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        yield GaugeMetricFamily("process_max_fds", "File descriptor limit (soft)", soft)
        yield GaugeMetricFamily(
            "process_start_time_seconds", "Start time, Unix seconds", self.started
        )


class Metrics:
    """A private collector registry exported on ``/metrics``."""

    def __init__(
        self,
        registry: Registry,
        local_connections: Callable[[], int] | None = None,
        frame_types: Mapping[str, int] | None = None,
        broker_up: Callable[[], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.local_connections = local_connections
        self.broker_up = broker_up
        self.frame_type_counts = frame_types if frame_types is not None else {}
        self._seen_types: dict[str, int] = {}
        self.collectors = CollectorRegistry()
        r = self.collectors
        r.register(ProcessMetrics())
        build = Gauge(
            "circle_build_info", "Version running (always 1)", ["version", "python"], registry=r
        )
        build.labels(version=version(), python=platform.python_version()).set(1)
        self.circles = Gauge("circle_circles_open", "Circles open now", registry=r)
        self.members = Gauge("circle_members", "Members seated in circles now", registry=r)
        self.waiting = Gauge("circle_waiting", "People in waiting rooms now", registry=r)
        self.connections = Gauge(
            "circle_connections", "Websocket connections to this node now", registry=r
        )
        self.broker = Gauge(
            "circle_broker_up",
            "1 while the broker (Redis, or memory) serves this node, 0 while it cannot",
            registry=r,
        )
        self.frames_in = Counter("circle_frames_in", "Frames received", registry=r)
        self.frames_out = Counter("circle_frames_out", "Frames delivered", registry=r)
        self.frame_types = Counter(
            "circle_frames_handled",
            "Frames handled by the node running their circle, by type (knock, admit, resume...)",
            ["type"],
            registry=r,
        )
        self.rejects = Counter(
            "circle_rejects", "Frames rejected, by error code", ["code", "name"], registry=r
        )
        self.opened = Counter("circle_circles_opened", "Circles opened since start", registry=r)
        self.take_overs = Counter(
            "circle_take_overs",
            "Circles this node took over from a node that stopped (scale-out)",
            registry=r,
        )
        self.resumes = Counter(
            "circle_resumes",
            "Members resuming after a dropped connection, by outcome: 'complete' (every missed "
            "frame replayed) or 'lost' (some too old to replay: the member catches up)",
            ["outcome"],
            registry=r,
        )
        self.refusals = Counter(
            "circle_refusals",
            "Connections refused or closed by the server without an error frame, by reason",
            ["reason"],
            registry=r,
        )
        for reason in (*REFUSALS.values(), *GATE_REFUSALS):
            self.refusals.labels(reason=reason)  # exported as 0 before the first refusal
        self.closes = Counter(
            "circle_closes",
            "Websocket connections ended: by the server (its close code's name), by the "
            "'client', or 'lost' without a close",
            ["reason"],
            registry=r,
        )
        self.frame_seconds = Histogram(
            "circle_frame_seconds",
            "Time from handling a frame to its replies and fan-out being written",
            buckets=FRAME_SECONDS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "circle_event_loop_lag_seconds",
            "How late the event loop ran the half-second timer (time others waited for it)",
            buckets=LAG_SECONDS,
            registry=r,
        )
        self.delivery = Histogram(
            "circle_delivery_seconds",
            "Time from a message reaching the server (any node) to its copies being written to "
            "the members' connections on this node; observed once per message and node",
            buckets=DELIVERY_SECONDS,
            registry=r,
        )
        self.node_link = Histogram(
            "circle_node_link_seconds",
            "Time from another node sending a message through Redis to this node handling it "
            "(scale-out; the nodes' clocks must agree)",
            buckets=DELIVERY_SECONDS,
            registry=r,
        )
        self.redis_round_trip = Histogram(
            "circle_redis_round_trip_seconds",
            "Time this node's heartbeat to Redis took, there and back (scale-out)",
            buckets=DELIVERY_SECONDS,
            registry=r,
        )
        self._seen_in = self._seen_out = self._seen_opened = self._seen_take_overs = 0
        self._seen_resumes: dict[str, int] = {}
        for outcome in registry.stats.resumes:
            self.resumes.labels(outcome=outcome)  # exported as 0 before the first resume
        self._seen_rejects: dict[int, int] = {}

    def closed_by_server(self, code: int | None) -> None:
        """Count a connection the server closed with ``code`` if that is a refusal."""
        reason = REFUSALS.get(code or 0)
        if reason is not None:
            self.refusals.labels(reason=reason).inc()

    def ended(self, by_server: int | None, by_client: bool) -> None:
        """Count a websocket that ended: closed by the server with ``by_server``, by the
        client, or lost."""
        if by_server is not None:
            reason = CLOSE_NAMES.get(by_server, "other")
        else:
            reason = "client" if by_client else "lost"
        self.closes.labels(reason=reason).inc()

    def refused(self, reason: str) -> None:
        """Count a refusal the gate made (near the fd limit, handshake caps, a slow reader)."""
        self.refusals.labels(reason=reason).inc()

    def render(self) -> bytes:
        """Sync the counters from the registry's stats, then render the text format."""
        stats = self.registry.stats
        for name, value in self.registry.gauges().items():
            getattr(self, name).set(value)
        if self.local_connections is not None:
            self.connections.set(self.local_connections())
        if self.broker_up is not None:
            self.broker.set(1 if self.broker_up() else 0)
        self.frames_in.inc(stats.frames_in - self._seen_in)
        self.frames_out.inc(stats.frames_out - self._seen_out)
        self.opened.inc(stats.circles_opened - self._seen_opened)
        self._seen_in, self._seen_out = stats.frames_in, stats.frames_out
        self._seen_opened = stats.circles_opened
        self.take_overs.inc(stats.take_overs - self._seen_take_overs)
        self._seen_take_overs = stats.take_overs
        for outcome, count in stats.resumes.items():
            self.resumes.labels(outcome=outcome).inc(count - self._seen_resumes.get(outcome, 0))
            self._seen_resumes[outcome] = count
        for kind, count in self.frame_type_counts.items():
            self.frame_types.labels(type=kind).inc(count - self._seen_types.get(kind, 0))
            self._seen_types[kind] = count
        for code, count in stats.rejects.items():
            name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else "OTHER"
            self.rejects.labels(code=str(code), name=name).inc(
                count - self._seen_rejects.get(code, 0)
            )
            self._seen_rejects[code] = count
        return generate_latest(self.collectors)
