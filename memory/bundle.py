"""A whole memory as one versioned file: cases with their vectors, Q checkpoint, replay, config.

The bundle is a zip archive:
- `manifest.json`: {"format": "memento-memory-bundle", "version": 1, "created_at",
  "embedding_model", "dim", "counts", "config"} (the config holds no secrets);
- `cases.jsonl`: one case per line (every field, counters included) with its cached `vector`;
- `replay.jsonl`: the replay buffer's transitions;
- `labelled.jsonl`: the cases' stored readings with their labels (`memento.memory.labelled`),
  {"id", "label", "vector"} per line, so a network-form Q does not embed them again;
- `q/q.pt`, `q/q.json`: the Q checkpoint and its sidecar, when there is one, and
  `q/q_encoder-<digest>.pt`, the tuned query encoder it reads tasks through, when it has one.

Loading checks everything before it writes. Into an empty store it just loads; into a non-empty
one it needs a mode: "replace" (the store's cases, replay and checkpoint are replaced; the old
cases are put back if writing the new ones fails) or "merge" (cases are added with the bank's
near-duplicate rule, transitions appended, and the store's own checkpoint kept when it has one).
Cases are written with the bundle's vectors, so nothing is re-encoded; their readings are kept
for the cases that still hold the label they were read with.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from memento.memory.labelled import keep_readings, stored_readings
from memento.memory.q.checkpoint import SIDECAR_FILE, WEIGHTS_FILE, checkpoint_files
from memento.memory.q.replay import REPLAY_FILE, ReplayBuffer, Transition
from memento.memory.records import Case, utc_now

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

BUNDLE_FORMAT = "memento-memory-bundle"
BUNDLE_VERSION = 1
_ENCODER_MEMBER = re.compile(r"q/q_encoder-[0-9a-f]+\.pt")
"""A tuned query encoder in the bundle (a plain name: nothing is written outside `q_dir`)."""
LoadMode = Literal["replace", "merge"]


class BundleError(ValueError):
    """A bundle is malformed, of another version or model, or the load mode is missing."""


def save_bundle(
    path: Path | str, bank: CaseBank, q_dir: Path | str, *, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write the bank's cases (with vectors), the replay buffer and the Q checkpoint to `path`.

    The file is written to a temporary name and renamed into place. Returns the manifest.
    """
    path, q_dir = Path(path), Path(q_dir)
    ids, vectors = bank.all_vectors()
    cases = {c.id: c for c in bank.get_many(ids)}
    replay = _replay_rows(q_dir)
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created_at": utc_now(),
        "embedding_model": bank.embedding_model,
        "dim": int(vectors.shape[1]) if len(ids) else bank.dimension,
        "counts": {"cases": len(cases), "transitions": len(replay)},
        "config": dict(config or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            lines = []
            for cid, vec in zip(ids, vectors, strict=True):
                if cid in cases:
                    row = cases[cid].model_dump(mode="json")
                    row["vector"] = [float(x) for x in vec]
                    lines.append(json.dumps(row, ensure_ascii=False))
            zf.writestr("cases.jsonl", "\n".join(lines))
            zf.writestr("replay.jsonl", "\n".join(json.dumps(r) for r in replay))
            readings = stored_readings(bank, ids)
            zf.writestr(
                "labelled.jsonl",
                "\n".join(
                    json.dumps({"id": cid, "label": label, "vector": [float(x) for x in vec]})
                    for cid, (label, vec) in readings.items()
                ),
            )
            files = checkpoint_files(q_dir)
            for name in files:
                zf.write(q_dir / name, f"q/{name}")
            if WEIGHTS_FILE in files:
                manifest["counts"]["q_checkpoint"] = 1
            zf.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


def _replay_rows(q_dir: Path) -> list[dict[str, Any]]:
    if not (q_dir / REPLAY_FILE).is_file():
        return []
    buf = ReplayBuffer(q_dir / REPLAY_FILE, capacity=None)
    try:
        return [t.to_json() for t in buf.all()]
    finally:
        buf.close()


def read_bundle(
    path: Path | str,
) -> tuple[dict[str, Any], list[Case], np.ndarray, list[Transition]]:
    """Parse and validate a bundle: (manifest, cases, their vectors, transitions).

    Raises:
        BundleError: naming the member and line of the first problem.
    """
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: not a readable memory bundle ({exc})") from exc
    with zf:
        manifest = _json_member(zf, path, "manifest.json")
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{path}: not a {BUNDLE_FORMAT} file")
        if manifest.get("version") != BUNDLE_VERSION:
            raise BundleError(
                f"{path}: bundle version {manifest.get('version')} is not supported "
                f"(this Memento reads version {BUNDLE_VERSION})"
            )
        cases: list[Case] = []
        vectors: list[list[float]] = []
        for number, row in _jsonl(zf, path, "cases.jsonl"):
            try:
                vectors.append([float(x) for x in row.pop("vector")])
                cases.append(Case.model_validate(row))
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"{path}!cases.jsonl:{number}: {exc}") from exc
        transitions: list[Transition] = []
        for number, row in _jsonl(zf, path, "replay.jsonl"):
            try:
                transitions.append(Transition.from_json(row))
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"{path}!replay.jsonl:{number}: {exc}") from exc
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(cases), -1)
    if len(cases) and manifest.get("dim") not in (None, matrix.shape[1]):
        raise BundleError(
            f"{path}: vectors are {matrix.shape[1]}-d, manifest says {manifest['dim']}"
        )
    return manifest, cases, matrix, transitions


def read_readings(path: Path | str) -> dict[str, tuple[str, np.ndarray]]:
    """The cases' readings with their labels a bundle carries: id -> (label, vector).

    Bundles written before readings were carried have none ({}): they are embedded on first use.

    Raises:
        BundleError: naming the line of the first malformed reading.
    """
    path = Path(path)
    readings: dict[str, tuple[str, np.ndarray]] = {}
    with zipfile.ZipFile(path) as zf:
        if "labelled.jsonl" not in zf.namelist():
            return readings
        for number, row in _jsonl(zf, path, "labelled.jsonl"):
            try:
                vector = np.asarray([float(x) for x in row["vector"]], dtype=np.float32)
                readings[str(row["id"])] = (str(row["label"]), vector)
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"{path}!labelled.jsonl:{number}: {exc!r}") from exc
    return readings


def _json_member(zf: zipfile.ZipFile, path: Path, name: str) -> dict[str, Any]:
    try:
        value = json.loads(zf.read(name).decode("utf-8"))
    except KeyError as exc:
        raise BundleError(f"{path}: missing {name}") from exc
    except ValueError as exc:
        raise BundleError(f"{path}!{name}: invalid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise BundleError(f"{path}!{name}: expected a JSON object")
    return value


def _jsonl(zf: zipfile.ZipFile, path: Path, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = zf.read(name).decode("utf-8")
    except KeyError as exc:
        raise BundleError(f"{path}: missing {name}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise BundleError(f"{path}!{name}:{number}: invalid JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise BundleError(f"{path}!{name}:{number}: expected a JSON object")
        yield number, row


@contextmanager
def _known_vectors(bank: CaseBank, texts: Sequence[str], vectors: np.ndarray) -> Iterator[None]:
    """Make the bank reuse the bundle's vectors for these texts instead of re-encoding them."""
    table = {t: v for t, v in zip(texts, vectors, strict=True)}
    original = bank.embed_texts

    def embed_texts(batch: Sequence[str], progress: Any = None) -> np.ndarray:
        missing = [t for t in batch if t not in table]
        if missing:
            table.update(zip(missing, original(missing), strict=True))
        return np.stack([table[t] for t in batch]) if batch else original(batch)

    bank.embed_texts = embed_texts  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        del bank.embed_texts


def load_bundle(
    path: Path | str, bank: CaseBank, q_dir: Path | str, *, mode: LoadMode | None = None
) -> dict[str, Any]:
    """Load a bundle into `bank` and `q_dir`; returns a summary of what was written.

    Raises:
        BundleError: malformed bundle, another embedding model, or a non-empty store and no mode.
    """
    q_dir = Path(q_dir)
    manifest, cases, vectors, transitions = read_bundle(path)
    readings = read_readings(path)
    dim = vectors.shape[1] if len(cases) else None
    odd = [cid for cid, (_, v) in readings.items() if dim is not None and v.shape != (dim,)]
    if odd:
        raise BundleError(f"{path}!labelled.jsonl: the reading of {odd[0]} is not {dim}-d")
    if manifest.get("embedding_model") != bank.embedding_model:
        raise BundleError(
            f"{path}: bundle vectors come from {manifest.get('embedding_model')!r}, "
            f"the bank uses {bank.embedding_model!r}"
        )
    non_empty = bank.count() > 0 or (q_dir / WEIGHTS_FILE).exists()
    if non_empty and mode is None:
        raise BundleError("the store is not empty: choose --replace or --merge")
    old_cases: list[Case] = []
    old_vectors = np.zeros((0, 0), dtype=np.float32)
    if mode == "replace" and bank.count() > 0:
        ids, old_vectors = bank.all_vectors()
        old_cases = bank.get_many(ids)
        bank.delete(ids)
    try:
        with _known_vectors(bank, [c.task for c in cases], vectors):
            report = bank.add_cases_report(cases, dedup=mode == "merge")
    except BaseException:
        if old_cases:
            with _known_vectors(bank, [c.task for c in old_cases], old_vectors):
                bank.add_cases(old_cases, dedup=False)
        raise
    q_dir.mkdir(parents=True, exist_ok=True)
    buf = ReplayBuffer(q_dir / REPLAY_FILE, capacity=None)
    try:
        if mode == "replace":
            buf.clear()
        buf.add_many(transitions)
    finally:
        buf.close()
    kept = keep_readings(bank, readings)  # a case folded into another or relabelled: read again
    took_checkpoint = _restore_checkpoint(Path(path), q_dir, keep_current=mode == "merge")
    return {
        "mode": mode or "load",
        "cases_added": report.added,
        "cases_merged": report.merged,
        "cases_existing": report.existing,
        "transitions": len(transitions),
        "readings": kept,
        "q_checkpoint": took_checkpoint,
        "bundle_created_at": manifest.get("created_at"),
    }


def _restore_checkpoint(path: Path, q_dir: Path, *, keep_current: bool) -> bool:
    if keep_current and (q_dir / WEIGHTS_FILE).exists():
        return False
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if f"q/{WEIGHTS_FILE}" not in names:
            return False
        encoders = sorted(n[2:] for n in names if _ENCODER_MEMBER.fullmatch(n))
        for name in (*encoders, WEIGHTS_FILE, SIDECAR_FILE):  # what q.json names comes first
            if f"q/{name}" in names:
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=q_dir)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(zf.read(f"q/{name}"))
                os.replace(tmp, q_dir / name)
    return True
