"""Q-function sharing: many workers act and log transitions, one trainer learns and publishes.

Roles:
- `QWorker` is the learner a worker's graph uses. `record` appends the transition to the shared
  log (it trains nothing); `selector()` first checks the published version (a sidecar read or one
  SQL query) and loads the weights only when a newer version exists. The graph asks for a
  selector when a task starts, so a worker switches weights between tasks, never inside one.
- `QTrainer` is the only writer of the weights. `poll()` reads the transitions logged since its
  cursor, learns from each exactly once (its `QLearner` skips keys it already has; it also does
  the bank's usage counters and the namespace budget, so those have one writer too), then
  publishes one new version whose meta records the cursor. `serve()` polls until stopped,
  holding the trainer lock (a Postgres advisory lock, or an flock on a local folder), so a second
  trainer on the same channel fails fast instead of forking the weights.

Consistency: transitions are delivered at least once and de-duplicated by key (the run's thread
id), so the trainer trains on each exactly once. Weights move in whole versions: a task runs on
the newest version published when it started (or a newer one, never an older one); a version
published during a task is used from that worker's next task. A trainer crash loses at most the
update steps since its last publication (it resumes from the published cursor), never a
transition.

`open_share(spec)`: a postgres:// DSN puts the log and the weights in Postgres; a folder puts
them in `<folder>/<channel>/` (transitions.sqlite, q.pt, q.json): a shared mount serves remote
workers, a local folder the processes of one machine.
"""

from memento.memory.q.share.lock import TrainerBusyError, take_trainer_lock
from memento.memory.q.share.trainer import PollReport, QTrainer
from memento.memory.q.share.worker import QShare, QWorker, open_share

__all__ = [
    "PollReport",
    "QShare",
    "QTrainer",
    "QWorker",
    "TrainerBusyError",
    "open_share",
    "take_trainer_lock",
]
