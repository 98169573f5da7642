"""Fits the coefficients of the separator's vectorizable math (Sources/Separator/Tensor/FastMath.swift)
and prints their float32 error, so that the constants there can be checked and refitted.

usage: .venv/bin/python scripts/fit_fast_math.py

- exp2Lanes: 2^f on [-1/2, 1/2], degree-6 polynomial, weighted least squares on relative error
  (Lawson's iteration towards the minimax fit).
- fastErf: erf(z) on [0, 4] as z P(z^2) / Q(z^2), degrees 5/5, Q(0) = 1, linearized weighted
  least squares on absolute error (iterated like the above). Beyond 4, float32 erf is 1.

Errors are measured with float32 coefficients and float32 Horner steps (fused multiply-add), as
the Swift code evaluates them, against mpmath / numpy in double precision.
"""
import mpmath as mp
import numpy as np
from scipy.special import erf


def horner32(coefficients, x):
    """Horner's rule in float32 with one rounding per step (a fused multiply-add)."""
    c = np.asarray(coefficients, dtype=np.float32)
    r = np.full_like(x, c[-1], dtype=np.float32)
    for k in range(len(c) - 2, -1, -1):
        r = (r.astype(np.float64) * x + c[k]).astype(np.float32)
    return r


def fit_exp2(degree=6, iterations=200):
    x = np.cos(np.linspace(0, np.pi, 2000)) * 0.5
    w = np.ones_like(x)
    for _ in range(iterations):
        a = np.vander(x, degree + 1, increasing=True) * np.sqrt(w)[:, None]
        c = np.linalg.lstsq(a, np.exp2(x) * np.sqrt(w), rcond=None)[0]
        e = np.abs(np.polyval(c[::-1], x) / np.exp2(x) - 1)
        w = w * (e / e.max() + 1e-3)
        w /= w.sum()
    xs = np.linspace(-0.5, 0.5, 200001).astype(np.float32)
    err = np.abs(horner32(c, xs).astype(np.float64) / np.exp2(xs.astype(np.float64)) - 1).max()
    return c, err


def fit_erf(p=5, q=5, zmax=4.0, iterations=150):
    z = np.concatenate([np.cos(np.linspace(0, np.pi, 4000)) * zmax / 2 + zmax / 2, np.linspace(0, zmax, 4000)])
    u = z * z
    f = np.where(z > 0, erf(z) / np.where(z > 0, z, 1), 2 / np.sqrt(np.pi))  # erf(z) / z
    q_prev, w = np.ones_like(u), np.ones_like(u)
    for _ in range(iterations):
        # Unknowns P0..Pp, Q1..Qq: P(u) - f (Q(u) - 1) = f, weighted to erf's absolute error.
        a = np.hstack([np.vander(u, p + 1, increasing=True),
                       -(f[:, None] * np.vander(u, q + 1, increasing=True)[:, 1:])])
        wt = np.maximum(np.sqrt(w) * z / q_prev, 1e-3)
        sol = np.linalg.lstsq(a * wt[:, None], f * wt, rcond=None)[0]
        num, den = sol[:p + 1], np.concatenate([[1.0], sol[p + 1:]])
        q_prev = np.polyval(den[::-1], u)
        e = np.abs(z * np.polyval(num[::-1], u) / q_prev - erf(z))
        w = w * (e / e.max() + 0.05)
        w /= w.mean()
    zs = np.linspace(0, 6, 10001).astype(np.float32)
    zc = np.minimum(zs, np.float32(zmax))
    u32 = (zc * zc).astype(np.float32)
    got = (zc * horner32(num, u32) / horner32(den, u32)).astype(np.float64)
    ref = np.array([float(mp.erf(mp.mpf(float(v)))) for v in zs])
    return num, den, np.abs(got - ref).max()


if __name__ == "__main__":
    c, err = fit_exp2()
    print("exp2Lanes 2^f, f in [-1/2, 1/2]: coefficients (f^0 ...)", [float(np.float32(v)) for v in c])
    print(f"  max relative error in float32: {err:.3g}")
    num, den, err = fit_erf()
    print("fastErf P (u^0 ...)", [float(np.float32(v)) for v in num])
    print("fastErf Q (u^0 ...)", [float(np.float32(v)) for v in den])
    print(f"  max absolute error in float32 on [0, 6] (clamped at 4): {err:.3g}")
