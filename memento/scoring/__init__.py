"""Scoring an answer: the metrics (EM/F1/PM) and the LLM judge, shared by the graph and the harness.

A leaf below graphs/ and eval/: `metrics` (normalisation families, `score`, `split_answers`) and
`judge` (`llm_judge`/`allm_judge` with the upstream semantics, `parse_verdict`). The judge node and
`memento eval` import the same code, so a run's reward and an evaluation's score agree.
"""
