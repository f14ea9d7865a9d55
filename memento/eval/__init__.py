"""Evaluation (`memento eval`, `memento report`): datasets, the run harness, results and reports.

Modules: `datasets` (DeepResearcher JSONL, GAIA folders, generic JSONL), `results` (row schema,
crash-safe writer, resume keys), `stats` (bootstrap CIs, pass@k), `group_scores` (per-group
scores of result rows), `run_summary` (what `run_eval` returns: per-epoch means), `usage`
(tokens and cost), `console` (running score, final table), `plots` and `report`. The metrics and
the LLM judge live in `memento.scoring`, below the graph, so the judge node can use them too.
"""
