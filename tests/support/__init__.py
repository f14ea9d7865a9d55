"""Test-only plumbing: the services pytest plugin, child scripts run by path, fuzz and Q helpers.

Fakes a user's own tests could use too (hashed embeddings, scripted chat models, a recording
learner) are in the package, `memento.testing`; this folder keeps what only this suite needs.
"""
