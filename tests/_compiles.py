"""Counting XLA compilations: a test helper shared by the no-recompile tests."""

import contextlib

import jax


@contextlib.contextmanager
def count_compiles():
  """Counts XLA backend compilations inside the block (``jax.monitoring``)."""
  events = []

  def listener(event, duration, **kwargs):
    del duration, kwargs
    if "backend_compile" in event:
      events.append(event)

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield events
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
