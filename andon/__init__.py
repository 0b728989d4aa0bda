"""Andon Lakehouse: configuration, CLI, source simulator and summaries."""
