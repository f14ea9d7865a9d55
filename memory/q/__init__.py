"""The Q-function Q(s, c): which stored case helps which task, learned from rewards.

Single process, read in this order: `network` (QConfig, QNetwork, loss and target), `config`
(LearnerConfig, credit weights, the seeded initial network), `replay` (the transition buffer),
`learner` (QLearner: record a run, update, save, bound the bank), `selector` (QSelector: the read
policy), `checkpoint` (atomic versioned files), `capacity` (eviction past a budget), `offline`
and `pairs` (training on logged pairs). Many processes sharing one Q: `memento.memory.q.share`.
Opt-in, no network: `kernel` (kernel episodic control over logged tries, `kernel_estimate`).
"""
