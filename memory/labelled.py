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
A try recorded before a fold relabelled its case trains on the case read with the label shown
(`readings_as_shown`), kept under its own id (`earlier_id`) until the case is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from memento.infra.progress import ProgressFn
from memento.memory.collection import as_matrix, chunks, require_all
from memento.memory.records import LABELS

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


def readings_as_shown(
    bank: CaseBank, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], np.ndarray]:
    """Readings of (case id, label) pairs: each case read with the label it was shown with.

    The stored reading serves where its label is the one asked for (a case never read is read
    with its label now, and stored, as in `labelled_vectors`). Another label, that of a try
    before a fold relabelled the case, is read from its own record (`earlier_id`), embedded and
    stored there on first use, so replayed tries do not embed it again. Cases not in the bank
    are left out.
    """
    wanted = list(dict.fromkeys(pairs))
    out, held, tasks = _as_held(bank, wanted)
    other = [p for p in wanted if p[0] in held and held[p[0]] != p[1]]
    if other:
        out.update(_as_earlier(bank, other, tasks))
    return out


def _as_held(
    bank: CaseBank, wanted: Sequence[tuple[str, str]]
) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, str], dict[str, str]]:
    """Readings of the pairs asking for a case's label now, each case's label, tasks read.

    A case never read with its label is read now and stored.
    """
    stored = stored_readings(bank, [cid for cid, _ in wanted])
    unread = list(dict.fromkeys(cid for cid, _ in wanted if cid not in stored))
    cases = {c.id: c for c in bank.get_many(unread)} if unread else {}
    now = {cid: cases[cid] for cid, label in wanted if cid in cases and cases[cid].label == label}
    for cid, vector in _embed(bank, list(now.values())).items():
        stored[cid] = (now[cid].label, vector)
    held = {cid: label for cid, (label, _) in stored.items()}
    held |= {cid: case.label for cid, case in cases.items()}
    out = {p: stored[p[0]][1] for p in wanted if p[0] in stored and stored[p[0]][0] == p[1]}
    return out, held, {cid: case.task for cid, case in cases.items()}


def _as_earlier(
    bank: CaseBank, pairs: Sequence[tuple[str, str]], tasks: dict[str, str]
) -> dict[tuple[str, str], np.ndarray]:
    """Readings of cases under labels they held before (stored under `earlier_id`).

    One not stored yet is embedded now and stored there.
    """
    earlier = stored_readings(bank, [earlier_id(*p) for p in pairs])
    out = {p: earlier[earlier_id(*p)][1] for p in pairs if earlier_id(*p) in earlier}
    todo = [p for p in pairs if p not in out]
    unseen = [cid for cid, _ in todo if cid not in tasks]
    if unseen:
        tasks = tasks | {c.id: c.task for c in bank.get_many(unseen)}
    todo = [p for p in todo if p[0] in tasks]  # a case deleted meanwhile: left out
    if todo:
        vectors = bank.embed_texts([labelled_text(tasks[cid], label) for cid, label in todo])
        _store(bank, [earlier_id(*p) for p in todo], [label for _, label in todo], vectors)
        out.update(zip(todo, vectors, strict=True))
    return out


def earlier_id(case_id: str, label: str) -> str:
    """The side record of a case read with a label it held before (`readings_as_shown`)."""
    return f"{case_id}#as-{label}"


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


def forget_labelled(bank: CaseBank, ids: Sequence[str], *, deleted: bool = False) -> None:
    """Drop the stored readings of these cases: their label changed, or they were `deleted`.

    A deleted case also loses its readings under labels it held before (`earlier_id`).
    """
    side = bank.side_collection(SUFFIX, create=False)
    if side is None:  # nothing was ever read with its label
        return
    targets = list(dict.fromkeys(ids))
    if deleted:
        targets += [earlier_id(cid, label) for cid in targets for label in LABELS]
    for chunk in chunks(targets, bank.batch_size):
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
