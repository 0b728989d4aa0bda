"""Great Expectations suites that gate publication of the silver tables.

Suites are code (built from the data dictionary), run in an ephemeral GX context on the
Spark DataFrame about to be published. See :mod:`expectations.gate`.
"""
