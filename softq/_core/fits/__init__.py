"""Offline fits of the stored coefficient tables (never imported at run time).

``python -m softq._core.fits.expsum`` refits the exponential-sum tables of
:mod:`softq._core.expsum`, ``python -m softq._core.fits.tanhsum`` the soft-sign
and tie tables of :mod:`softq._core.tanhsum`; both run the constrained Remez
exchange of :mod:`softq._core.fits.remez` in ``mpmath`` and compare the result
with the stored constants (``--print``: fresh literals).
"""
