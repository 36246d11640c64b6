"""The soft remedian: blocks of soft medians, level by level.

* :mod:`~softq._algorithms.remedian.reducer` -- the ``"remedian"`` algorithm
  as a registered row reducer;
* :mod:`~softq._algorithms.remedian.tree` -- its levels as one ``lax.scan``;
* :mod:`~softq._algorithms.remedian.levels` -- one level of weighted blocks;
* :mod:`~softq._algorithms.remedian.stream` -- the streaming state.

No re-exports: import the modules themselves.
"""
