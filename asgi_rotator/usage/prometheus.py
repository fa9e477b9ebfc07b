"""Prometheus metrics for ``/rotator/metrics`` (install the ``metrics`` extra).

Each :class:`PrometheusMetrics` owns its registry, so several gateways in one process (tests build many) never collide
on series names. Without prometheus-client every ``observe`` call is a no-op and only :meth:`PrometheusMetrics.render`
fails, so the gateway never needs to know whether the extra is installed until metrics are asked for.
Series are per process: Prometheus sums replicas itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import MissingDependency
from ..protocols.unified import Usage
from .names import BoundedNames

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_TTFB_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
_TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("reasoning", "reasoning_tokens"),
)


class PrometheusMetrics:
    """The gateway's Prometheus series, in a private registry.

    Series (each name prefixed with ``namespace_`` when a namespace is given): ``requests_total{provider,
    model,outcome}``, ``errors_total{kind}``, ``tokens_total{provider,model,type}``, ``cost_usd_total{provider,
    model}``, ``request_latency_seconds{provider,model}`` and ``ttfb_seconds{provider,model}`` histograms, and
    the ``credential_state{provider,credential,state}`` gauge (1 for each credential's current state).

    Args:
        namespace: prefix of every series name.
        max_models: distinct model labels kept; further models are counted under ``model="other"``.
    """

    def __init__(self, *, namespace: str = "rotator", max_models: int = 500) -> None:
        self._model_label = BoundedNames(max_models)
        #: Each metric's labelled series, looked up once: ``labels()`` validates and locks on every call.
        #: Bounded as the labels are (model names by ``max_models``).
        self._series_of: dict[tuple[Any, tuple[str, ...]], Any] = {}
        try:
            import prometheus_client as prom
        except ImportError:
            self._prom: Any = None
            return
        self._prom = prom
        self._registry = prom.CollectorRegistry(auto_describe=True)
        common: dict[str, Any] = {"namespace": namespace, "registry": self._registry}
        self._requests = prom.Counter(
            "requests", "Requests served, by outcome.", ["provider", "model", "outcome"], **common
        )
        self._errors = prom.Counter("errors", "Errors returned to clients, by class.", ["kind"], **common)
        self._tokens = prom.Counter("tokens", "Tokens billed, by type.", ["provider", "model", "type"], **common)
        self._cost = prom.Counter("cost_usd", "Known cost in USD.", ["provider", "model"], **common)
        self._latency = prom.Histogram(
            "request_latency_seconds",
            "Time from request to the end of the response.",
            ["provider", "model"],
            buckets=_LATENCY_BUCKETS,
            **common,
        )
        self._ttfb = prom.Histogram(
            "ttfb_seconds", "Time to the first upstream byte.", ["provider", "model"], buckets=_TTFB_BUCKETS, **common
        )
        self._credentials = prom.Gauge(
            "credential_state", "1 for each credential's current state.", ["provider", "credential", "state"], **common
        )

    @property
    def enabled(self) -> bool:
        """Whether prometheus-client is installed (otherwise observations are dropped)."""
        return self._prom is not None

    def observe_request(
        self,
        *,
        provider: str,
        model: str,
        outcome: str,
        latency: float | None = None,
        ttfb: float | None = None,
    ) -> None:
        """Count one request by ``outcome`` (e.g. ``success``, ``error``, ``cancelled``) and time it."""
        if self._prom is None:
            return
        model = self._model_label(model)
        self._series(self._requests, (provider, model, outcome)).inc()
        if latency is not None:
            self._series(self._latency, (provider, model)).observe(latency)
        if ttfb is not None:
            self._series(self._ttfb, (provider, model)).observe(ttfb)

    def observe_error(self, kind: str) -> None:
        """Count one error returned to a client, by its :data:`~asgi_rotator.errors.ErrorKind`."""
        if self._prom is not None:
            self._series(self._errors, (kind,)).inc()

    def observe_usage(self, *, provider: str, model: str, usage: Usage, cost_usd: float | None) -> None:
        """Add a served call's tokens by type and its cost, when known."""
        if self._prom is None:
            return
        model = self._model_label(model)
        for label, field in _TOKEN_TYPES:
            amount = getattr(usage, field)
            if amount > 0:
                self._series(self._tokens, (provider, model, label)).inc(amount)
        if cost_usd is not None and cost_usd > 0:
            self._series(self._cost, (provider, model)).inc(cost_usd)

    def _series(self, metric: Any, labels: tuple[str, ...]) -> Any:
        found = self._series_of.get((metric, labels))
        if found is None:
            found = self._series_of[metric, labels] = metric.labels(*labels)
        return found

    def set_credential_states(self, states: Iterable[tuple[str, str, str]]) -> None:
        """Replace the credential gauge with ``(provider, masked credential, state)`` rows."""
        if self._prom is None:
            return
        # Cleared first, so a credential that changed state leaves no stale series behind.
        self._credentials.clear()
        for provider, credential, state in states:
            self._credentials.labels(provider, credential, state).set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type.

        Raises:
            MissingDependency: prometheus-client is not installed.
        """
        if self._prom is None:
            raise MissingDependency("prometheus-client", extra="metrics")
        return self._prom.generate_latest(self._registry), self._prom.CONTENT_TYPE_LATEST
