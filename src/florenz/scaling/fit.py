"""Log-linear scaling laws by ordinary least squares: log10 y = b0 + sum_i b_i log10 x_i.

The paper's compute law (one regressor, C, on Pareto-frontier points) and its multivariate law
(P, S and optionally T on all runs) are both this model. Everything a claim needs comes back with
it: 95 % t-intervals, two-sided p-values, R^2, and confidence / prediction intervals for new points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from florenz.errors import FlorenzError


@dataclass
class LogLinearFit:
    """OLS fit on log10 scale; `names[0]` is the intercept."""

    names: list[str]
    coef: np.ndarray
    cov: np.ndarray = field(repr=False)
    sigma: float
    n: int
    r2: float
    level: float = 0.95

    @property
    def dof(self) -> int:
        return self.n - len(self.coef)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def ci(self) -> np.ndarray:
        """(k, 2) confidence intervals of the coefficients (NaN with no residual degrees of freedom)."""
        if self.dof <= 0:
            return np.full((len(self.coef), 2), np.nan)
        t = stats.t.ppf((1 + self.level) / 2, self.dof)
        return np.stack([self.coef - t * self.se, self.coef + t * self.se], axis=1)

    @property
    def p_values(self) -> np.ndarray:
        if self.dof <= 0:
            return np.full(len(self.coef), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            tstat = self.coef / self.se
        return 2 * stats.t.sf(np.abs(tstat), self.dof)

    def param(self, name: str) -> dict[str, float]:
        i = self.names.index(name)
        lo, hi = self.ci[i]
        return {"value": float(self.coef[i]), "ci_low": float(lo), "ci_high": float(hi), "p": float(self.p_values[i])}

    def contrast(self, c: np.ndarray) -> dict[str, float]:
        """Estimate, 95 % CI and p of a linear combination c . coef (e.g. |b1| - |b2|)."""
        c = np.asarray(c, float)
        est, se = float(c @ self.coef), float(np.sqrt(c @ self.cov @ c))
        if self.dof <= 0:
            return {"value": est, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
        t = stats.t.ppf((1 + self.level) / 2, self.dof)
        p = float(2 * stats.t.sf(abs(est / se), self.dof)) if se > 0 else 0.0
        return {"value": est, "ci_low": est - t * se, "ci_high": est + t * se, "p": p}

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Mean prediction with CI and PI, in y units; x is (m, k-1) in raw (not log) units."""
        x = np.atleast_2d(np.asarray(x, float))
        if x.shape[1] != len(self.coef) - 1:
            raise FlorenzError(f"predict: expected {len(self.coef) - 1} columns, got {x.shape[1]}")
        xd = np.column_stack([np.ones(len(x)), np.log10(x)])
        mean = xd @ self.coef
        var_mean = np.einsum("ij,jk,ik->i", xd, self.cov, xd)
        t = stats.t.ppf((1 + self.level) / 2, self.dof) if self.dof > 0 else np.nan
        half_ci = t * np.sqrt(var_mean)
        half_pi = t * np.sqrt(var_mean + self.sigma**2)
        return {
            "mean": 10**mean,
            "ci_low": 10 ** (mean - half_ci),
            "ci_high": 10 ** (mean + half_ci),
            "pi_low": 10 ** (mean - half_pi),
            "pi_high": 10 ** (mean + half_pi),
        }

    def to_dict(self) -> dict:
        return {
            "params": {n: self.param(n) for n in self.names},
            "r2": self.r2,
            "n": self.n,
            "sigma_log10": self.sigma,
            "level": self.level,
        }


def fit_loglinear(x: dict[str, np.ndarray] | np.ndarray, y: np.ndarray, names: list[str] | None = None) -> LogLinearFit:
    """OLS of log10 y on log10 of each column of x; x is a dict name -> values or an (n, k) array."""
    if isinstance(x, dict):
        names = list(x)
        xm = np.column_stack([np.asarray(v, float) for v in x.values()])
    else:
        xm = np.asarray(x, float).reshape(len(y), -1)
        names = names or [f"x{i + 1}" for i in range(xm.shape[1])]
    y = np.asarray(y, float).ravel()
    for name, col in [*zip(names, xm.T, strict=True), ("y", y)]:
        bad = np.flatnonzero(~(np.isfinite(col) & (col > 0)))
        if len(bad):
            raise FlorenzError(f"log-linear fit: column {name!r} must be positive and finite (row {int(bad[0])})")
    k = xm.shape[1] + 1
    if len(y) < k:
        raise FlorenzError(f"log-linear fit: {len(y)} points cannot determine {k} coefficients")
    xd = np.column_stack([np.ones(len(y)), np.log10(xm)])
    ly = np.log10(y)
    if np.linalg.matrix_rank(xd) < k:
        raise FlorenzError(f"log-linear fit: regressors {names} are constant or collinear")
    coef, *_ = np.linalg.lstsq(xd, ly, rcond=None)
    resid = ly - xd @ coef
    dof = len(y) - k
    sigma = float(np.sqrt(resid @ resid / dof)) if dof > 0 else float("nan")
    xtx_inv = np.linalg.inv(xd.T @ xd)
    cov = xtx_inv * sigma**2 if dof > 0 else np.full((k, k), np.nan)
    sst = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1 - float(resid @ resid) / sst if sst > 0 else float("nan")
    return LogLinearFit(names=["intercept", *names], coef=coef, cov=cov, sigma=sigma, n=len(y), r2=r2)
