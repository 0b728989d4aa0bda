"""Benchmarks of Andon Lakehouse (``make bench``; results in ``bench/results/``). Not part of the product."""
