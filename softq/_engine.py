"""The engine: one path from a public call to its output, for every algorithm.

:func:`prepare` validates a call once (``softq._core.validation``) into a
hashable :class:`Request` and its array arguments; :func:`run` (jitted, the
request static) builds the ``(batch, n)`` rows, settles the temperature mode
(zero, mixed or soft: written once here), dispatches to the algorithm's
``reduce`` through the registry, fills NaN and empty rows, and restores
``jax.numpy``'s output shape and dtype.  A temperature of exactly zero calls
``jax.numpy`` itself for algorithms whose hard limit is ``jnp.quantile``.

``q`` and the temperature are traced arrays: new values never compile a new
program.  Only hashable options (axes, method, algorithm, its options) are
static, as in ``jax.numpy``'s own reductions, whose internal ``jax.jit``
this mirrors (eager calls compile one program; under a caller's jit it
inlines).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from softq import _algorithms
from softq._algorithms import Query
from softq._algorithms import Rows
from softq._core import layout as layouts
from softq._core import numerics
from softq._core import plan as plans
from softq._core import select
from softq._core import validation


@dataclasses.dataclass(frozen=True)
class Request:
  """A validated call: everything static about it (a jit static argument)."""
  name: str                  # the public function, for messages
  algorithm: str
  options: tuple             # the algorithm's validated options
  layout: layouts.Layout
  kind: str                  # "median" | "quantile" | "sort"
  method: str
  keepdims: bool
  omit_nan: bool             # the nan* functions
  output: str                # "values" | "weights"
  mode: str                  # temperature "zero" | "mixed" | "soft"
  lead: tuple[int, ...]      # q's shape, prepended to the output
  percent: bool              # q in [0, 100]
  host_positions: bool       # (lo, hi, g) computed on the host (float64 NumPy)
  descending: bool = False   # sort
  has_where: bool = False
  has_weights: bool = False
  temperature_scale: str | None = None   # None (data units), "std" or "mad"


def prepare(name: str, a, q, axis, *, kind: str, method: str = "linear",
            keepdims: bool = False, temperature: Any = 1.0, algorithm: str,
            where=None, weights=None, options: Mapping[str, Any] | None = None,
            omit_nan: bool = False, output: str = "values", percent: bool = False,
            descending: bool = False, exact_only: bool = False,
            temperature_scale: str | None = None):
  """Validates a call; returns ``(request, args)`` for :func:`run`."""
  a = validation.check_array(a, name)
  allowed = _algorithms.EXACT_ALGORITHMS if exact_only else _algorithms.ALGORITHMS
  record = _algorithms.get(algorithm, name, allowed)
  method = validation.check_choice(method, name, "method", validation.METHODS)
  scale = validation.check_temperature_scale(temperature_scale, name)
  opts = _algorithms.options(record, name, options or {})
  lay = layouts.layout(a.shape, axis, name)
  if record.max_size is not None:
    validation.check_size_limit(lay.n, record.max_size, record.name, name, record.faster)
  cdtype = validation.compute_dtype(a.dtype)
  tau, mode = validation.check_temperature(temperature, name, cdtype)
  where = validation.check_where(where, a.shape, name)
  if weights is not None and not record.supports_weights:
    raise _algorithms.weights_error(record, name)
  weights = validation.check_weights(weights, a.shape, lay.axes, name, cdtype)
  q_given = q
  if kind == "quantile":
    q = validation.check_q(q, name, percent)
    lead = q.shape
  else:
    q, lead = None, ()
  tau = layouts.per_row(tau, lay, lead, name)
  host = (kind == "quantile" and method == "averaged_inverted_cdf" and record.kernel is not None
          and validation.is_concrete(q) and where is None and weights is None
          and not omit_nan)
  if host:
    # From the q as given (a float32 0.1 would move q * n off an integer).
    qf = np.asarray(q_given, np.float64) / (100.0 if percent else 1.0)
    q = plans.host_positions(qf, lay.n, method)
  request = Request(name=name, algorithm=record.name, options=opts, layout=lay, kind=kind,
                    method=method, keepdims=keepdims, omit_nan=omit_nan, output=output,
                    mode=mode, lead=tuple(lead), percent=percent, host_positions=host,
                    descending=descending, has_where=where is not None,
                    has_weights=weights is not None, temperature_scale=scale)
  return request, (a, q, tau, where, weights)


# --------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------

def _rows(req: Request, a, where, weights, cdtype):
  """The rows, and per row: NaN (result NaN) and empty (no weight) flags."""
  lay = req.layout
  x = layouts.to_rows(a, lay).astype(cdtype)
  # A closure-constant input would otherwise let XLA constant-fold the sorts.
  x = jax.lax.optimization_barrier(x)
  isnan = jnp.isnan(x)
  present = None if where is None else layouts.to_rows(where, lay)
  weight = None
  if weights is not None:
    weight = layouts.to_rows(weights, lay).astype(cdtype)
  if present is not None:
    weight = jnp.where(present, 1 if weight is None else weight, 0).astype(cdtype)
  nan_rows = None
  if req.omit_nan:
    weight = jnp.where(isnan, 0, 1 if weight is None else weight).astype(cdtype)
  else:
    bad = isnan if present is None else isnan & present
    nan_rows = jnp.any(bad, axis=1)
  x = jnp.where(isnan, jnp.zeros_like(x), x)
  empty = None if weight is None else ~jnp.any(weight > 0, axis=1)
  return Rows(x, weight, mask_only=weights is None), nan_rows, empty


def _query(req: Request, q) -> Query:
  if req.kind != "quantile":
    return Query(req.kind)
  if req.host_positions:
    return Query("quantile", req.method, None, q)
  qf = jnp.asarray(q).reshape(-1)
  if req.percent:
    qf = _percent_to_fraction(qf)
  return Query("quantile", req.method, qf)


def _percent_to_fraction(q):
  """``q / 100`` in ``q``'s dtype, as ``jnp.percentile`` computes it."""
  q = q.astype(plans.q_dtype(q))
  return q / jnp.asarray(100, q.dtype)


# --------------------------------------------------------------------------
# the hard limit through jax.numpy
# --------------------------------------------------------------------------

def _jnp_hard(req: Request, a, q, where, weights):
  """``jax.numpy``'s own result (bit for bit, with its gradient), or None."""
  if req.output != "values" or (req.kind == "quantile"
                                 and req.method not in validation.JNP_METHODS):
    return None
  if weights is not None and req.method != "inverted_cdf":
    return None   # weighted methods other than inverted_cdf: the repeated sample
  lay = req.layout
  axis = lay.axes if len(lay.axes) != a.ndim else None
  if req.kind == "sort":
    return jnp.sort(a, axis=lay.axes[0], descending=req.descending)
  if req.kind == "median":
    qv, method = 0.5, "linear"
  else:
    qv, method = jnp.asarray(q), req.method
    if req.percent:
      qv = _percent_to_fraction(qv)
    elif not jnp.issubdtype(qv.dtype, jnp.floating):
      # An integer level (0 or 1): jnp.quantile floors q itself and refuses
      # integers; promote as the soft path does (plan.q_dtype).
      qv = qv.astype(plans.q_dtype(qv))
  if method == "inverted_cdf" and jnp.asarray(qv).dtype != a.dtype:
    # jnp multiplies q by the total weight with lax.mul: mixed float32 and
    # float64 raise there (jnp's own error); q in a's dtype gives its result.
    qv = jnp.asarray(qv).astype(a.dtype)
  kw = dict(axis=axis, method=method, keepdims=req.keepdims)
  if weights is not None:
    kw["weights"] = weights
  if where is None:
    if req.kind == "median" and weights is None:
      fn = jnp.nanmedian if req.omit_nan else jnp.median
      return fn(a, axis=axis, keepdims=req.keepdims)
    fn = jnp.nanquantile if req.omit_nan else jnp.quantile
    return fn(a, qv, **kw)
  masked = jnp.where(where, a, jnp.nan)
  out = jnp.nanquantile(masked, qv, **kw)
  if not req.omit_nan:
    bad = jnp.any(jnp.isnan(a) & where, axis=axis, keepdims=req.keepdims)
    out = jnp.where(bad, jnp.nan, out)
  return out


# --------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------

@functools.partial(jax.jit, static_argnums=0)
def run(req: Request, a, q, tau, where, weights):
  """The output of a validated call (see :func:`prepare`)."""
  record = _algorithms.REGISTRY[req.algorithm]
  if req.mode == "zero" and record.hard_limit == "jnp":
    out = _jnp_hard(req, a, q, where, weights)
    if out is not None:
      return out.astype(a.dtype)
  cdtype = validation.compute_dtype(a.dtype)
  rows, nan_rows, empty = _rows(req, a, where, weights, cdtype)
  tau = scale_temperature(tau, rows.x, rows.weight, req.temperature_scale)
  query = _query(req, q)
  reduce = functools.partial(record.reduce, rows, query, output=req.output,
                             options=req.options)
  out = by_temperature(req.mode, tau, lambda t, hard: reduce(t, hard=hard), row_axis=1)
  for flags in (nan_rows, empty):
    if flags is not None:
      out = jnp.where(flags[:, None] if out.ndim == 3 else flags, jnp.nan, out)
  return _restore(req, out).astype(a.dtype)


def scale_temperature(tau, x, weight, kind):
  """``tau`` times every row's spread (``kind``: None, ``"std"`` or ``"mad"``).

  A scale-free temperature: ``temperature=0.05, temperature_scale="std"`` is
  soft at 5 % of each row's standard deviation, so ``f(c x) = c f(x)``.  The
  spread is differentiated (the function stays one smooth function of ``x``);
  a zero temperature stays exactly zero.
  """
  if kind is None:
    return tau
  s = select.spread(x, weight, kind)                   # (B,)
  return tau * s


def by_temperature(mode: str, tau, compute, row_axis: int):
  """``compute(tau, hard)`` under the temperature mode, written once.

  ``tau`` is a scalar, ``(B,)`` (one per row) or ``(Q, B)``; ``compute``
  returns an array whose axis ``row_axis`` runs over the ``B`` rows (after
  the ``Q`` axis, if any).  ``"zero"``: the hard result; ``"soft"``: the soft
  one on the floored temperature (a traced zero never divides by zero);
  ``"mixed"`` (a concrete temperature with some zeros): both, row by row.
  """
  if mode == "zero":
    return compute(tau, True)
  out = compute(numerics.floor_tau(tau), False)
  if mode == "mixed":
    zero = jnp.asarray(tau) == 0
    if zero.ndim == 1:        # one per row
      zero = zero.reshape((1,) * row_axis + zero.shape)
    zero = zero.reshape(zero.shape + (1,) * (out.ndim - zero.ndim))
    out = jnp.where(zero, compute(tau, True), out)
  return out


def _restore(req: Request, out):
  """``(Q, B)`` values or ``(Q, B, n)`` weights -> ``jax.numpy``'s shapes."""
  lay = req.layout
  if req.kind == "sort":
    vals = jnp.swapaxes(out, 0, 1)                       # (B, n)
    if req.descending:
      vals = vals[:, ::-1]
    return layouts.from_rows_full(vals, lay)
  if req.output == "weights":
    return layouts.from_rows_full(out, lay).reshape(req.lead + lay.shape)
  return layouts.from_rows_reduced(out, lay, req.keepdims).reshape(
      req.lead + lay.out_shape(req.keepdims))


# --------------------------------------------------------------------------
# row maps: functions with one output per input (soft ranks, soft max family)
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MapRequest:
  """A validated row map: ``fn(x (B, n), weight, tau, hard) -> (B, n) or (B,)``."""
  name: str
  layout: layouts.Layout
  mode: str
  keepdims: bool = False
  nan_rows: bool = True      # a NaN in a row makes the whole row NaN
  temperature_scale: str | None = None


def prepare_map(name: str, a, axis, temperature, *, where=None, keepdims: bool = False,
                nan_rows: bool = True, allow_empty: bool = False,
                temperature_scale: str | None = None):
  """Validates a row map; returns ``(request, args)`` for :func:`run_map`."""
  a = validation.check_array(a, name)
  scale = validation.check_temperature_scale(temperature_scale, name)
  lay = layouts.layout(a.shape, axis, name, allow_empty=allow_empty)
  tau, mode = validation.check_temperature(temperature, name,
                                           validation.compute_dtype(a.dtype))
  where = validation.check_where(where, a.shape, name)
  tau = layouts.per_row(tau, lay, (), name)
  return MapRequest(name, lay, mode, keepdims, nan_rows, scale), (a, tau, where)


@functools.partial(jax.jit, static_argnums=(0, 1))
def run_map(req: MapRequest, fn, a, tau, where):
  """``fn`` over the rows of a validated map; restores the shape (full or reduced)."""
  lay = req.layout
  x = layouts.to_rows(a, lay).astype(validation.compute_dtype(a.dtype))
  valid = None if where is None else layouts.to_rows(where, lay)
  tau = scale_temperature(tau, x, valid, req.temperature_scale)
  out = by_temperature(req.mode, tau, lambda t, hard: fn(x, valid, t, hard), row_axis=0)
  if req.nan_rows:
    bad = jnp.any(jnp.isnan(x), axis=1)
    out = jnp.where(bad.reshape(bad.shape + (1,) * (out.ndim - 1)), jnp.nan, out)
  if out.ndim == 2:
    return layouts.from_rows_full(out, lay).astype(a.dtype)
  return layouts.from_rows_reduced(out, lay, req.keepdims).astype(a.dtype)
