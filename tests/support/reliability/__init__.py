"""Reliability campaign helpers: a kill -9 driver, its offline evaluation and store checks."""
