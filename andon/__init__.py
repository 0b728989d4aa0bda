"""Andon Lakehouse base: configuration, dates, the data dictionary, the Spark session and Delta tables.

Every stage may import this package; it imports no stage (import contracts in pyproject.toml).
"""
