"""Forecast hourly request load with daily and weekly seasonality, and back-test it.

Two models are fitted by least squares with numpy and compared on held-out data:

- ``seasonal``: log(1 + requests) = level + trend * t + hour-of-day + day-of-week +
  hour-of-day on weekends. Working in log space makes the seasonal effects multiplicative
  (a quiet Sunday scales the whole daily curve down instead of shifting it);
- ``linear``: requests = a + b * hour + c * weekday + d * t, the plain regression on calendar
  numbers. It cannot bend into a daily peak, and is kept as the baseline to beat.

The back-test trains on everything before the last week (or the last day when less than two
weeks exist) and scores mean absolute percentage error on that held-out span, over hours
with traffic (percentage error is undefined at zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 168
SEASONAL = "seasonal"
LINEAR = "linear"


@dataclass(frozen=True)
class BackTest:
    method: str
    mape: float | None
    holdout_hours: int
    scored_hours: int


@dataclass
class Forecast:
    """A projected series with the back-test that justifies the chosen method."""

    method: str
    source: str
    start: datetime | None
    horizon_hours: int
    training_hours: int
    values: list[float] = field(default_factory=list)
    backtests: list[BackTest] = field(default_factory=list)
    reason: str = ""

    @property
    def is_available(self) -> bool:
        return bool(self.values)


def _calendar(first: datetime, count: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    hours = np.array([(first + timedelta(hours=offset + i)).hour for i in range(count)])
    days = np.array([(first + timedelta(hours=offset + i)).weekday() for i in range(count)])
    return hours, days


def _seasonal_design(t: np.ndarray, hours: np.ndarray, days: np.ndarray) -> np.ndarray:
    columns = [np.ones_like(t, dtype=float), t / HOURS_PER_WEEK]
    weekend = (days >= 5).astype(float)
    for hour in range(1, HOURS_PER_DAY):
        columns.append((hours == hour).astype(float))
    for day in range(1, 7):
        columns.append((days == day).astype(float))
    for hour in range(HOURS_PER_DAY):
        columns.append(((hours == hour) * weekend).astype(float))
    return np.column_stack(columns)


def _linear_design(t: np.ndarray, hours: np.ndarray, days: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones_like(t, dtype=float), hours, days, t / HOURS_PER_WEEK])


def fit_predict(method: str, history: list[float], first: datetime, horizon: int) -> list[float]:
    """Fit ``method`` on ``history`` (hourly, starting at ``first``) and return the next
    ``horizon`` hours, never negative. Raise ValueError for an unknown method."""
    y = np.asarray(history, dtype=float)
    t_train = np.arange(len(y), dtype=float)
    t_future = np.arange(len(y), len(y) + horizon, dtype=float)
    hours, days = _calendar(first, len(y))
    f_hours, f_days = _calendar(first, horizon, offset=len(y))
    if method == SEASONAL:
        coef, *_ = np.linalg.lstsq(_seasonal_design(t_train, hours, days), np.log1p(y), rcond=None)
        predicted = np.expm1(_seasonal_design(t_future, f_hours, f_days) @ coef)
    elif method == LINEAR:
        coef, *_ = np.linalg.lstsq(_linear_design(t_train, hours, days), y, rcond=None)
        predicted = _linear_design(t_future, f_hours, f_days) @ coef
    else:
        raise ValueError(f"unknown forecast method {method!r}; use {SEASONAL!r} or {LINEAR!r}")
    return [max(0.0, float(v)) for v in predicted]


def mape(actual: list[float], predicted: list[float]) -> tuple[float | None, int]:
    """Return (mean absolute percentage error in percent, hours scored); hours whose actual
    value is zero are skipped, and None is returned when no hour could be scored."""
    pairs = [(a, p) for a, p in zip(actual, predicted, strict=True) if a > 0]
    if not pairs:
        return None, 0
    return 100.0 * sum(abs(a - p) / a for a, p in pairs) / len(pairs), len(pairs)


def holdout_hours_for(length: int) -> int:
    """Return the held-out span: a week when two weeks exist, else a day when four days do,
    else 0 (too little history to test a seasonal model honestly)."""
    if length >= 2 * HOURS_PER_WEEK:
        return HOURS_PER_WEEK
    if length >= 4 * HOURS_PER_DAY:
        return HOURS_PER_DAY
    return 0


def back_test(method: str, history: list[float], first: datetime, holdout: int) -> BackTest:
    """Train ``method`` on all but the last ``holdout`` hours and score it on them."""
    train, test = history[:-holdout], history[-holdout:]
    predicted = fit_predict(method, train, first, holdout)
    error, scored = mape(test, predicted)
    return BackTest(method=method, mape=error, holdout_hours=holdout, scored_hours=scored)


def forecast_requests(
    history: list[float], first: datetime | None, *, source: str, horizon: int = HOURS_PER_WEEK
) -> Forecast:
    """Back-test both models, then refit the better one on all history and project it.

    Return a Forecast without values (and a reason) when history is too short.
    """
    holdout = holdout_hours_for(len(history))
    if first is None or holdout == 0 or not any(history):
        return Forecast(
            method="none",
            source=source,
            start=None,
            horizon_hours=horizon,
            training_hours=len(history),
            reason=(
                f"{len(history)} hours of {source} history; a forecast needs at least "
                f"{4 * HOURS_PER_DAY} hours with traffic (two weeks for a weekly back-test)."
            ),
        )
    tests = [back_test(method, history, first, holdout) for method in (SEASONAL, LINEAR)]
    scored = [t for t in tests if t.mape is not None]
    best = min(scored, key=lambda t: t.mape or math.inf).method if scored else SEASONAL
    return Forecast(
        method=best,
        source=source,
        start=first + timedelta(hours=len(history)),
        horizon_hours=horizon,
        training_hours=len(history),
        values=fit_predict(best, history, first, horizon),
        backtests=tests,
        reason=f"lowest back-test error over the last {holdout} hours",
    )


@dataclass(frozen=True)
class ScalingStep:
    """A change of web replicas the forecast calls for at the start of an hour."""

    at: datetime
    replicas: int
    direction: str  # "up" or "down"
    forecast_requests: float


def scaling_schedule(
    forecast: Forecast,
    *,
    cpu_seconds_per_search: float,
    replica_cores: float,
    target_utilisation: float,
    min_replicas: int,
) -> list[ScalingStep]:
    """Return the hours where the replicas needed by the forecast change, up or down."""
    if not forecast.is_available or forecast.start is None:
        return []
    steps: list[ScalingStep] = []
    current = None
    for offset, requests in enumerate(forecast.values):
        cores = requests / 3600 * cpu_seconds_per_search
        needed = max(min_replicas, math.ceil(cores / (replica_cores * target_utilisation)))
        if current is not None and needed != current:
            steps.append(
                ScalingStep(
                    at=forecast.start + timedelta(hours=offset),
                    replicas=needed,
                    direction="up" if needed > current else "down",
                    forecast_requests=round(requests, 1),
                )
            )
        current = needed
    return steps
