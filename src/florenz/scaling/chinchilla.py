"""The Chinchilla form y = E + A/P^alpha + B/S^beta, fitted as Hoffmann et al. (2022) and Epoch (2024).

Huber loss (delta = 1e-3) on log y with the log-sum-exp parameterisation
log y_hat = LSE(a - alpha log P, b - beta log S, e), E = exp(e), A = exp(a), B = exp(b), minimised by
L-BFGS-B. Speed: the objective and its gradient are vectorised over points, the full 4,500-point
start grid of Hoffmann et al. is scored in one array pass and only the best starts are refined, and
bootstrap refits warm-start from the best fit. Confidence intervals are bootstrap percentiles.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from florenz.errors import FlorenzError
from florenz.scaling.blas import single_thread_blas

NAMES = ("E", "A", "B", "alpha", "beta")
# Hoffmann et al. (2022) start grid: 5 * 5 * 5 * 6 * 6 = 4,500 points over (alpha, beta, e, a, b).
GRID = {
    "alpha": np.arange(0.0, 2.01, 0.5),
    "beta": np.arange(0.0, 2.01, 0.5),
    "e": np.arange(-1.0, 1.01, 0.5),
    "a": np.arange(0.0, 25.01, 5.0),
    "b": np.arange(0.0, 25.01, 5.0),
}


def _huber(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss and its derivative, elementwise."""
    small = np.abs(r) <= delta
    loss = np.where(small, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    grad = np.where(small, r, delta * np.sign(r))
    return loss, grad


def _terms(theta: np.ndarray, logp: np.ndarray, logs: np.ndarray) -> np.ndarray:
    """The three log-terms, shape (..., n, 3) for theta of shape (..., 5) = (e, a, b, alpha, beta)."""
    e, a, b, al, be = (theta[..., i, None] for i in range(5))
    return np.stack([a - al * logp, b - be * logs, np.broadcast_to(e, (a - al * logp).shape)], axis=-1)


def _objective(theta: np.ndarray, logp: np.ndarray, logs: np.ndarray, logy: np.ndarray, delta: float, w: np.ndarray):
    """Weighted sum of Huber losses of log residuals and its analytic gradient (for L-BFGS-B)."""
    t = _terms(theta, logp, logs)
    m = t.max(axis=-1, keepdims=True)
    ex = np.exp(t - m)
    tot = ex.sum(axis=-1, keepdims=True)
    pred = (m + np.log(tot))[..., 0]
    soft = ex / tot  # d pred / d term
    loss, dl = _huber(pred - logy, delta)
    g = w * dl
    grad = np.array(
        [
            np.sum(g * soft[:, 2]),
            np.sum(g * soft[:, 0]),
            np.sum(g * soft[:, 1]),
            -np.sum(g * soft[:, 0] * logp),
            -np.sum(g * soft[:, 1] * logs),
        ]
    )
    return float(np.sum(w * loss)), grad


def _grid_losses(grid: np.ndarray, logp, logs, logy, delta: float) -> np.ndarray:
    """Objective at every start point at once (grid: (k, 5) -> (k,))."""
    out = np.empty(len(grid))
    for i in range(0, len(grid), 1000):  # chunks keep the (k, n, 3) array small
        t = _terms(grid[i : i + 1000], logp, logs)
        m = t.max(axis=-1, keepdims=True)
        pred = (m + np.log(np.exp(t - m).sum(axis=-1, keepdims=True)))[..., 0]
        out[i : i + 1000] = _huber(pred - logy, delta)[0].sum(axis=-1)
    return out


def _minimise(x0: np.ndarray, logp, logs, logy, delta: float, w: np.ndarray):
    return minimize(
        _objective, x0, args=(logp, logs, logy, delta, w), jac=True, method="L-BFGS-B",
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-10},
    )


@dataclass
class ChinchillaFit:
    """Fitted E, A, B, alpha, beta with bootstrap CIs, R^2 on log y, and timings."""

    params: dict[str, float]
    ci: dict[str, tuple[float, float]]
    p_values: dict[str, float]
    r2: float
    n: int
    loss: float
    fit_seconds: float
    bootstrap_seconds: float
    n_bootstrap: int
    starts_refined: int
    boot_params: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 5)))
    residuals: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))

    def predict(self, p, s) -> np.ndarray:
        """Point prediction y_hat = E + A/P^alpha + B/S^beta."""
        return _predict(np.array([self.params[k] for k in NAMES]), p, s)

    def interval(self, p, s, level: float = 0.95, seed: int = 0) -> dict[str, np.ndarray]:
        """Bootstrap CI of the mean prediction and PI (bootstrap + resampled log residuals)."""
        p, s = np.atleast_1d(np.asarray(p, float)), np.atleast_1d(np.asarray(s, float))
        mean = self.predict(p, s)
        if len(self.boot_params) < 2:
            nan = np.full_like(mean, np.nan)
            return {"mean": mean, "ci_low": nan, "ci_high": nan, "pi_low": nan, "pi_high": nan}
        preds = np.stack([_predict(b, p, s) for b in self.boot_params])
        rng = np.random.default_rng(seed)
        noisy = preds * np.exp(rng.choice(self.residuals, size=preds.shape))
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        ci, pi = np.percentile(preds, q, axis=0), np.percentile(noisy, q, axis=0)
        return {"mean": mean, "ci_low": ci[0], "ci_high": ci[1], "pi_low": pi[0], "pi_high": pi[1]}

    def to_dict(self) -> dict:
        return {
            **self.params,
            "ci95": {k: list(v) for k, v in self.ci.items()},
            "p_values": self.p_values,
            "r2_log": self.r2,
            "n": self.n,
            "huber_loss": self.loss,
            "fit_seconds": self.fit_seconds,
            "bootstrap_seconds": self.bootstrap_seconds,
            "n_bootstrap": self.n_bootstrap,
            "starts_refined": self.starts_refined,
        }


def _predict(params: np.ndarray, p, s) -> np.ndarray:
    e_, a_, b_, al, be = params
    with np.errstate(over="ignore"):  # P**alpha -> inf for a huge exponent: that term is 0, as it should be
        return e_ + a_ / np.asarray(p, float) ** al + b_ / np.asarray(s, float) ** be


def _to_params(theta: np.ndarray) -> np.ndarray:
    e, a, b, al, be = theta
    return np.array([np.exp(e), np.exp(a), np.exp(b), al, be])


def fit_chinchilla(
    p,
    s,
    y,
    delta: float = 1e-3,
    n_bootstrap: int = 300,
    top_k: int = 30,
    seed: int = 0,
) -> ChinchillaFit:
    """Fit y = E + A/P^alpha + B/S^beta; `top_k` best grid starts are refined, then bootstrapped."""
    with single_thread_blas():
        return _fit(p, s, y, delta, n_bootstrap, top_k, seed)


def _fit(p, s, y, delta: float, n_bootstrap: int, top_k: int, seed: int) -> ChinchillaFit:
    p, s, y = (np.asarray(v, float).ravel() for v in (p, s, y))
    if not (len(p) == len(s) == len(y)):
        raise FlorenzError("chinchilla fit: params, samples and loss have different lengths")
    if len(y) < 6:
        raise FlorenzError(f"chinchilla fit: needs at least 6 points, got {len(y)}")
    for name, v in (("params", p), ("samples", s), ("loss", y)):
        bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
        if len(bad):
            raise FlorenzError(f"chinchilla fit: {name} must be positive and finite (row {int(bad[0])})")
    logp, logs, logy = np.log(p), np.log(s), np.log(y)
    t0 = time.perf_counter()
    grid = np.array(list(itertools.product(GRID["e"], GRID["a"], GRID["b"], GRID["alpha"], GRID["beta"])))
    starts = grid[np.argsort(_grid_losses(grid, logp, logs, logy, delta))[:top_k]]
    w = np.ones_like(logy)
    best = min((_minimise(x0, logp, logs, logy, delta, w) for x0 in starts), key=lambda r: r.fun)
    fit_s = time.perf_counter() - t0

    theta = best.x
    pred = _terms(theta, logp, logs)
    mx = pred.max(axis=-1)
    logyhat = mx + np.log(np.exp(pred - mx[:, None]).sum(axis=-1))
    resid = logy - logyhat
    r2 = 1.0 - float(np.sum(resid**2) / np.sum((logy - logy.mean()) ** 2))

    t1 = time.perf_counter()
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_bootstrap):
        # Multinomial weights are the same resample as drawing rows, without copying the arrays.
        wb = rng.multinomial(len(y), np.full(len(y), 1.0 / len(y))).astype(float)
        boots.append(_to_params(_minimise(theta, logp, logs, logy, delta, wb).x))
    boot = np.array(boots) if boots else np.empty((0, 5))
    boot_s = time.perf_counter() - t1

    params = _to_params(theta)
    ci, pv = {}, {}
    for i, k in enumerate(NAMES):
        if len(boot) >= 2:
            lo, hi = np.percentile(boot[:, i], [2.5, 97.5])
            # Two-sided bootstrap p-value for "parameter = 0": share of resamples on the other side.
            frac = min(np.mean(boot[:, i] <= 0), np.mean(boot[:, i] >= 0))
            pv[k] = float(min(1.0, 2 * frac))
        else:
            lo = hi = pv[k] = float("nan")
        ci[k] = (float(lo), float(hi))
    return ChinchillaFit(
        params={k: float(v) for k, v in zip(NAMES, params, strict=True)},
        ci=ci,
        p_values=pv,
        r2=r2,
        n=len(y),
        loss=float(best.fun),
        fit_seconds=fit_s,
        bootstrap_seconds=boot_s,
        n_bootstrap=len(boot),
        starts_refined=len(starts),
        boot_params=boot,
        residuals=resid,
    )
