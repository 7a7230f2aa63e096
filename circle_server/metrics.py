"""Prometheus metrics (F20): counts only; nothing that names a circle, a member or an address."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from circle_server.actions import CloseCode
from circle_server.registry import Registry

REFUSALS = {
    CloseCode.TOO_MANY_CONNECTIONS: "too_many_connections",
    CloseCode.TIMEOUT: "hello_timeout",
    CloseCode.TOO_BIG: "frame_too_big",
}
"""Connection-level refusals (no error frame, so not in ``circle_rejects``), by close code."""
GATE_REFUSALS = ("fd_limit", "handshakes", "slow_reader")
"""Refusals before or beside the websocket (circle_server/gate.py), by name."""
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """A private collector registry exported on ``/metrics``."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.collectors = CollectorRegistry()
        r = self.collectors
        self.circles = Gauge("circle_circles_open", "Circles open now", registry=r)
        self.members = Gauge("circle_members", "Members seated in circles now", registry=r)
        self.waiting = Gauge("circle_waiting", "People in waiting rooms now", registry=r)
        self.connections = Gauge("circle_connections", "Websocket connections now", registry=r)
        self.frames_in = Counter("circle_frames_in", "Frames received", registry=r)
        self.frames_out = Counter("circle_frames_out", "Frames delivered", registry=r)
        self.rejects = Counter(
            "circle_rejects", "Frames rejected, by error code", ["code"], registry=r
        )
        self.opened = Counter("circle_circles_opened", "Circles opened since start", registry=r)
        self.refusals = Counter(
            "circle_refusals",
            "Connections refused or closed by the server without an error frame, by reason",
            ["reason"],
            registry=r,
        )
        for reason in (*REFUSALS.values(), *GATE_REFUSALS):
            self.refusals.labels(reason=reason)  # exported as 0 before the first refusal
        self._seen_in = self._seen_out = self._seen_opened = 0
        self._seen_rejects: dict[int, int] = {}

    def closed_by_server(self, code: int | None) -> None:
        """Count a connection the server closed with ``code`` if that is a refusal."""
        reason = REFUSALS.get(code or 0)
        if reason is not None:
            self.refusals.labels(reason=reason).inc()

    def refused(self, reason: str) -> None:
        """Count a refusal the gate made (near the fd limit, handshake caps, a slow reader)."""
        self.refusals.labels(reason=reason).inc()

    def render(self) -> bytes:
        """Sync the counters from the registry's stats, then render the text format."""
        stats = self.registry.stats
        for name, value in self.registry.gauges().items():
            getattr(self, name).set(value)
        self.frames_in.inc(stats.frames_in - self._seen_in)
        self.frames_out.inc(stats.frames_out - self._seen_out)
        self.opened.inc(stats.circles_opened - self._seen_opened)
        self._seen_in, self._seen_out = stats.frames_in, stats.frames_out
        self._seen_opened = stats.circles_opened
        for code, count in stats.rejects.items():
            self.rejects.labels(code=str(code)).inc(count - self._seen_rejects.get(code, 0))
            self._seen_rejects[code] = count
        return generate_latest(self.collectors)
