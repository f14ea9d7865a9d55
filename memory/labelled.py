"""Each case read with its label, as upstream's classifier reads a case: a second cached vector.

Q's case side (`QConfig.case_side == "label"`, the default) is the bank model's embedding of
"[CASE] task [LABEL] label" rather than of the task alone: on upstream's log that raised Q's
held-out AUC on each of three sets of five splits (docs/numbers.md). The vectors sit in a side
collection `<name>.labelled` (id = the case's id, metadata = the label it was read with). A case
is embedded when first asked for (`labelled_vectors`) or all at once (`fill_labelled`, off the
task's path), and its vector is dropped when its label changes (`CaseBank.update`, a fold that
improves it) or it is deleted, so the next read embeds it again. A process that reads a case
just before another relabels it may store the old reading after the drop: that case is then read
with its old label until its label changes again or `fill_labelled(refresh=True)` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from memento.infra.progress import ProgressFn
from memento.memory.collection import as_matrix, chunks, require_all

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank
    from memento.memory.records import Case

SUFFIX = ".labelled"
LABEL_KEY = "label"


def labelled_text(task: str, label: str) -> str:
    """The text a case is read as on the label side (upstream's classifier's case format)."""
    return f"[CASE] {task} [LABEL] {label}"


def labelled_vectors(bank: CaseBank, ids: Sequence[str]) -> np.ndarray:
    """Unit vectors of these cases read with their labels, shape (len(ids), d).

    Cases never read before are embedded now (one batched pass) and stored.

    Raises:
        KeyError: naming the ids that are not in the bank.
    """
    unique = list(dict.fromkeys(ids))
    found: dict[str, np.ndarray] = {}
    side = bank.side_collection(SUFFIX)
    for chunk in chunks(unique, bank.batch_size):
        got = side.get(ids=chunk, include=["embeddings"])
        found.update(zip(got["ids"], as_matrix(got["embeddings"], 0), strict=True))
    unread = [i for i in unique if i not in found]
    if unread:
        cases = bank.get_many(unread)
        require_all(unread, {c.id for c in cases})
        found.update(_embed(bank, cases))
    if not ids:
        return np.zeros((0, bank.dimension or 0), dtype=np.float32)
    return np.stack([found[i] for i in ids]).astype(np.float32)


def fill_labelled(
    bank: CaseBank,
    *,
    namespace: str | None = None,
    refresh: bool = False,
    progress: ProgressFn | None = None,
) -> int:
    """Embed every case (of a namespace) not read with its label yet; returns how many.

    `refresh` embeds every case again (mends a reading left stale by a concurrent relabel).
    """
    cases = bank.list(namespace=namespace)
    if not refresh:
        stored: set[str] = set()
        side = bank.side_collection(SUFFIX)
        for chunk in chunks([c.id for c in cases], bank.batch_size):
            stored.update(side.get(ids=chunk, include=[])["ids"])
        cases = [c for c in cases if c.id not in stored]
    for start in range(0, len(cases), bank.batch_size):
        _embed(bank, cases[start : start + bank.batch_size])
        if progress is not None:
            done = min(start + bank.batch_size, len(cases))
            progress("reading cases with their labels", done, len(cases))
    return len(cases)


def stored_readings(bank: CaseBank, ids: Sequence[str]) -> dict[str, tuple[str, np.ndarray]]:
    """The readings stored for these cases: id -> (the label read, the vector); unread left out."""
    side = bank.side_collection(SUFFIX, create=False)
    if side is None:
        return {}
    out: dict[str, tuple[str, np.ndarray]] = {}
    for chunk in chunks(list(dict.fromkeys(ids)), bank.batch_size):
        got = side.get(ids=chunk, include=["embeddings", "metadatas"])
        for cid, meta, vec in zip(
            got["ids"], got["metadatas"], as_matrix(got["embeddings"], 0), strict=True
        ):
            out[cid] = (str((meta or {}).get(LABEL_KEY, "")), vec)
    return out


def keep_readings(bank: CaseBank, readings: dict[str, tuple[str, np.ndarray]]) -> int:
    """Store readings taken elsewhere (a memory bundle) for the cases that hold that label now.

    A reading of a case not in the bank, or read with another label, is skipped. Returns how
    many were stored.
    """
    current = {c.id: c.label for c in bank.get_many(list(readings))}
    kept = [cid for cid, (label, _) in readings.items() if current.get(cid) == label]
    if kept:
        vectors = np.stack([readings[cid][1] for cid in kept]).astype(np.float32)
        _store(bank, kept, [readings[cid][0] for cid in kept], vectors)
    return len(kept)


def forget_labelled(bank: CaseBank, ids: Sequence[str]) -> None:
    """Drop the stored readings of these cases (their label changed, or they were deleted)."""
    side = bank.side_collection(SUFFIX, create=False)
    if side is None:  # nothing was ever read with its label
        return
    for chunk in chunks(list(dict.fromkeys(ids)), bank.batch_size):
        side.delete(ids=chunk)


def _embed(bank: CaseBank, cases: Sequence[Case]) -> dict[str, np.ndarray]:
    """Embed and store the label-side readings of `cases`."""
    if not cases:
        return {}
    vectors = bank.embed_texts([labelled_text(c.task, c.label) for c in cases])
    _store(bank, [c.id for c in cases], [c.label for c in cases], vectors)
    return {c.id: v for c, v in zip(cases, vectors, strict=True)}


def _store(bank: CaseBank, ids: Sequence[str], labels: Sequence[str], vectors: np.ndarray) -> None:
    """Upsert readings (id, the label read, the vector) in batches below Chroma's maximum."""
    side = bank.side_collection(SUFFIX)
    for start in range(0, len(ids), bank.batch_size):
        end = start + bank.batch_size
        side.upsert(
            ids=list(ids[start:end]),
            embeddings=vectors[start:end],
            metadatas=[{LABEL_KEY: label} for label in labels[start:end]],
        )
