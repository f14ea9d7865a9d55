"""Bugs the property tests found, pinned as plain examples (each failed before its fix).

- json.loads raises RecursionError (deep nesting) and a bare ValueError (integers over 4300
  digits), and accepts lone surrogate escapes that later break UTF-8 writes and content hashes:
  every JSONL reader and the planner parser now report these as their own error, with the line.
- load_pairs let UnicodeDecodeError and IsADirectoryError escape.
- A GAIA file_name too long for the file system escaped as OSError, one naming a symlink loop
  as RuntimeError (found by the long run).
- A case with an empty id passed validation and failed inside Chroma at write time; a usage
  counter above 2**63-1 was stored as a float and read back changed.
- Settings accepted MEMENTO_DEDUP_THRESHOLD=nan/5/-1 and collection names Chroma refuses, so the
  error came later without naming the variable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from memento.eval.datasets import DatasetError, load_dataset
from memento.graphs.planner_output import PlannerOutputError, parse_planner_output
from memento.memory.formats import FormatError, read_cases
from memento.memory.q.pairs import PairsFormatError, load_pairs
from memento.settings import Settings, SettingsError, env_name, load_settings

PLAN = {"plan": [{"id": 1, "description": "Look it up."}]}
GOOD_CASE = json.dumps({"id": "a", "task": "t", "plan": PLAN, "label": "positive", "reward": 1})
GOOD_PAIR = json.dumps({"query": "q", "case": "c", "truth_label": 1})
GOOD_TASK = json.dumps({"question": "q", "ground_truth": "a", "data_source": "nq"})
DEEP = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = '{"x": ' + "7" * 5000 + "}"
SURROGATE = '{"case": "\\ud800", "plan": "{}", "case_label": "positive"}'
NASTY = {"deep": DEEP, "long number": LONG_NUMBER, "surrogate": SURROGATE}


def lines(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", list(NASTY.values()), ids=list(NASTY))
def test_case_file_nasty_json_names_line(tmp_path: Path, bad: str) -> None:
    with pytest.raises(FormatError, match=r"line 2: not valid JSON"):
        read_cases(lines(tmp_path, GOOD_CASE, bad), format="memento")


@pytest.mark.parametrize("bad", list(NASTY.values()), ids=list(NASTY))
def test_pairs_file_nasty_json_names_line(tmp_path: Path, bad: str) -> None:
    with pytest.raises(PairsFormatError, match=r"in\.jsonl:2: invalid JSON"):
        load_pairs(lines(tmp_path, GOOD_PAIR, bad))


@pytest.mark.parametrize("bad", list(NASTY.values()), ids=list(NASTY))
def test_dataset_nasty_json_names_line(tmp_path: Path, bad: str) -> None:
    path = lines(tmp_path, GOOD_TASK, bad)
    with pytest.raises(DatasetError, match=r"in\.jsonl:2: invalid JSON"):
        load_dataset(path)
    assert [b.line for b in load_dataset(path, skip_bad=True).skipped] == [2]


NASTY_REPLIES = {
    "deep": '{"answer": "x", "a": ' + DEEP + "}",
    "long number": '{"plan": [{"id": ' + "9" * 5000 + ', "description": "x"}]}',
    "surrogate": '{"answer": "\\ud800"}',
}


@pytest.mark.parametrize("reply", list(NASTY_REPLIES.values()), ids=list(NASTY_REPLIES))
def test_planner_reply_nasty_json_is_repairable(reply: str) -> None:
    with pytest.raises(PlannerOutputError, match="invalid JSON"):
        parse_planner_output(reply)


def test_upstream_surrogate_case_is_a_format_error(tmp_path: Path) -> None:
    plan = json.dumps(json.dumps(PLAN))
    row = '{"case": "\\ud800", "plan": ' + plan + ', "case_label": "positive"}'
    with pytest.raises(FormatError, match="line 1: .*lone surrogate"):
        read_cases(lines(tmp_path, row), format="upstream")


def test_pairs_bad_utf8_and_folder(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(GOOD_PAIR.encode() + b'\n{"query": "\xff"}\n')
    with pytest.raises(PairsFormatError, match=r"p\.jsonl:2: not UTF-8"):
        load_pairs(path)
    with pytest.raises(PairsFormatError, match="cannot open"):
        load_pairs(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_pairs(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("name", ["a" * 5000, "loop"])
def test_gaia_file_name_too_long_or_a_link_loop(tmp_path: Path, name: str) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    row = {"task_id": "1", "Question": "q", "file_name": name}
    (tmp_path / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(DatasetError, match=r"metadata\.jsonl:1: file_name '\w+' cannot be opened"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    ("patch", "field"),
    [({"id": ""}, "id"), ({"times_retrieved": 2**63}, "times_retrieved"),
     ({"observations": 2**64}, "observations")],
)  # fmt: skip
def test_case_ids_and_counters_chroma_cannot_keep(
    tmp_path: Path, patch: dict[str, object], field: str
) -> None:
    row = json.dumps({**json.loads(GOOD_CASE), **patch})
    with pytest.raises(FormatError, match=f"line 1: {field}"):
        read_cases(lines(tmp_path, row))


@pytest.mark.parametrize(
    ("var", "value", "field"),
    [("MEMENTO_DEDUP_THRESHOLD", "nan", "dedup_threshold"),
     ("MEMENTO_DEDUP_THRESHOLD", "5", "dedup_threshold"),
     ("MEMENTO_DEDUP_THRESHOLD", "0", "dedup_threshold"),
     ("MEMENTO_COLLECTION", "x", "collection"),
     ("MEMENTO_COLLECTION", "bad name!", "collection"),
     ("MEMENTO_NAMESPACE", "", "namespace")],
)  # fmt: skip
def test_settings_refuse_values_the_stores_refuse(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, field: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError, match=field):
        Settings()
    with pytest.raises(SettingsError, match=f"{var}={value!r}: "):
        load_settings()


@pytest.mark.integration  # runs the `memento` command
def test_bad_environment_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    """The `memento` command exits 2 with the variable's name; a secret's value never shows."""
    cli = Path(sys.executable).with_name("memento")
    env = {**os.environ, "MEMENTO_DEDUP_THRESHOLD": "lots", "MEMENTO_HOME": str(tmp_path)}
    done = subprocess.run([str(cli), "cases", "list"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "MEMENTO_DEDUP_THRESHOLD='lots'" in done.stderr and "Traceback" not in done.stderr
    assert env_name("tavily_api_key") == "TAVILY_API_KEY"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEMENTO_CHROMA_AUTH_HEADER", "X-Token: sk-secret-value")
        mp.setenv("MEMENTO_NAMESPACE", "")
        with pytest.raises(SettingsError) as err:
            load_settings()
    assert "MEMENTO_NAMESPACE=''" in str(err.value) and "sk-secret" not in str(err.value)
