"""Infrastructure beneath the graph: timeouts, text limits, thread ids, redaction, checkpointers.

The base layer: modules here import nothing else from memento except `memento.settings`, so
memory/, tools/, graphs/, nodes/ and the harness above can all use them without a cycle.
"""
