"""Reporting for people: the weekly early-warning digest and the lakehouse summary."""
