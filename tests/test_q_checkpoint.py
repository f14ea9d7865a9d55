"""Q checkpoints: atomic versioned save/load, sidecar, corrupt/missing handling and fallback."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

from memento.memory.q.checkpoint import (
    SIDECAR_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    load_or_none,
    save_checkpoint,
)
from memento.memory.q.network import QConfig, QNetwork, seed_everything

MODEL = "test-model"


def _net(seed: int = 0) -> QNetwork:
    seed_everything(seed)
    return QNetwork(QConfig(dim=8, hidden=4, seed=seed))


def test_round_trip_with_versions_and_sidecar(tmp_path: Path) -> None:
    net = _net()
    meta = save_checkpoint(tmp_path, net, embedding_model=MODEL, step=5, extra={"auc": 0.6})
    assert meta.version == 1
    sidecar = json.loads((tmp_path / SIDECAR_FILE).read_text())
    assert sidecar["version"] == 1 and sidecar["step"] == 5 and sidecar["dim"] == 8
    assert sidecar["embedding_model"] == MODEL and sidecar["config"]["hidden"] == 4
    assert len(sidecar["weights_sha256"]) == 64
    loaded = load_checkpoint(tmp_path, embedding_model=MODEL, dim=8)
    assert loaded.meta.extra == {"auc": 0.6}
    for key, value in net.state_dict().items():
        assert torch.equal(value, loaded.network.state_dict()[key])
    assert save_checkpoint(tmp_path, _net(1), embedding_model=MODEL, step=6).version == 2
    assert load_checkpoint(tmp_path).meta.version == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([WEIGHTS_FILE, SIDECAR_FILE])


def test_failed_save_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_checkpoint(tmp_path, _net(), embedding_model=MODEL, step=1)
    before = (tmp_path / WEIGHTS_FILE).read_bytes()

    def broken_save(obj: object, handle: object) -> None:
        handle.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, _net(1), embedding_model=MODEL, step=2)
    assert (tmp_path / WEIGHTS_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([WEIGHTS_FILE, SIDECAR_FILE])


def test_save_uses_replace_of_a_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moves: list[tuple[str, str]] = []
    real = os.replace

    def spy(src: str, dst: str) -> None:
        moves.append((Path(src).name, Path(dst).name))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    save_checkpoint(tmp_path, _net(), embedding_model=MODEL, step=1)
    assert [dst for _, dst in moves] == [WEIGHTS_FILE, SIDECAR_FILE]
    assert all(src.endswith(".tmp") for src, _ in moves)


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no Q checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize("garbage", [b"", b"not a torch file", b"PK\x03\x04trunc"])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path, garbage: bytes) -> None:
    save_checkpoint(tmp_path, _net(), embedding_model=MODEL, step=1)
    (tmp_path / WEIGHTS_FILE).write_bytes(garbage)
    with pytest.raises(CheckpointError, match="corrupt Q checkpoint"):
        load_checkpoint(tmp_path)


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, _net(), embedding_model=MODEL, step=1)
    data = (tmp_path / WEIGHTS_FILE).read_bytes()
    (tmp_path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path)


def test_model_and_dimension_mismatch(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, _net(), embedding_model=MODEL, step=1)
    with pytest.raises(CheckpointError, match="other-model"):
        load_checkpoint(tmp_path, embedding_model="other-model")
    with pytest.raises(CheckpointError, match="8-d"):
        load_checkpoint(tmp_path, dim=16)


def test_wrong_weights_for_the_config(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, _net(), embedding_model=MODEL, step=1)
    payload = torch.load(tmp_path / WEIGHTS_FILE, weights_only=True)
    payload["meta"]["config"]["hidden"] = 16
    torch.save(payload, tmp_path / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path)


def test_a_config_saved_before_the_case_side_reads_tasks(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, _net(), embedding_model=MODEL, step=1)
    assert load_checkpoint(tmp_path).network.config.case_side == "label"  # today's default
    payload = torch.load(tmp_path / WEIGHTS_FILE, weights_only=True)
    del payload["meta"]["config"]["case_side"]
    torch.save(payload, tmp_path / WEIGHTS_FILE)
    assert load_checkpoint(tmp_path).network.config.case_side == "task"


def test_fallback_warns_and_returns_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / WEIGHTS_FILE).write_bytes(b"junk")
    with caplog.at_level(logging.WARNING):
        assert load_or_none(tmp_path, allow_fallback=True) is None
    assert "falling back to similarity" in caplog.text
    with pytest.raises(CheckpointError):
        load_or_none(tmp_path, allow_fallback=False)
