"""Property tests: dataset loaders, the planner-reply parser, the answer metrics and Settings.

Properties: only the documented error type escapes (DatasetError, PlannerOutputError, pydantic's
ValidationError for Settings); each rejection names the file and line, or the field; a GAIA
attachment can never point outside its folder; `skip_bad` records exactly the bad line and keeps
every good one; the metrics stay in [0, 1] and normalising twice changes nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from pydantic import ValidationError

from memento.eval.datasets import Dataset, DatasetError, load_dataset
from memento.graphs.planner_output import PlannerOutput, PlannerOutputError, parse_planner_output
from memento.scoring.metrics import METRIC_FAMILIES, normalize, score, split_answers
from memento.settings import Settings
from tests.support import fuzz as fz

# ---------------------------------------------------------------- datasets

answers = fz.nonblank.filter(lambda s: split_answers(s) != [])
dr_rows = st.fixed_dictionaries(
    {
        "question": fz.nonblank,
        "ground_truth": answers | st.lists(answers, min_size=1, max_size=3),
        "data_source": st.text(min_size=1, max_size=12),
    }
)
dr_files = st.lists(dr_rows, min_size=1, max_size=6)
DR_BAD: dict[str, list[Any]] = {
    "question": [None, "", "  \n", [], {}, True],
    "ground_truth": [None, "", [], [[]], {}, True, "<|answer_split|>", ["", " "], [None]],
    "data_source": [None, [], {}, False],
    "task_id": [{}, [], True],
}


def check_dataset_read(rows: list[dict[str, Any]]) -> None:
    with fz.jsonl_file(fz.jsonl(rows)) as path:
        data = load_dataset(path)
    assert data.format == "deepresearcher" and not data.skipped
    assert [t.question for t in data.tasks] == [r["question"] for r in rows]
    assert [t.ground_truth for t in data.tasks] == [split_answers(r["ground_truth"]) for r in rows]
    assert [t.line for t in data.tasks] == list(range(1, len(rows) + 1))


def refused_then_skipped(lines: list[str], line: int) -> tuple[DatasetError, Dataset]:
    """Assert the loader refuses the file at `line`, and that `skip_bad` skips exactly that line."""
    with fz.jsonl_file(lines) as path:
        with pytest.raises(DatasetError) as err:
            load_dataset(path, fmt="deepresearcher")
        kept = load_dataset(path, fmt="deepresearcher", skip_bad=True)
    assert err.value.line == line and str(err.value).startswith(f"{path}:{line}: ")
    assert [b.line for b in kept.skipped] == [line]
    return err.value, kept


def check_bad_dataset_field(
    rows: list[dict[str, Any]], at: int, field: str, data: st.DataObject
) -> None:
    at = min(at, len(rows) - 1)
    value = data.draw(st.sampled_from(DR_BAD[field]))
    lines = fz.jsonl(rows)
    bad = dict(rows[at], **{field: value})
    if value is None:
        bad.pop(field)
    lines[at] = fz.dump(bad)
    err, skipped = refused_then_skipped(lines, at + 1)
    assert field in err.reason
    assert [t.line for t in skipped.tasks] == [n for n in range(1, len(rows) + 1) if n != at + 1]


def check_bad_dataset_line(rows: list[dict[str, Any]], at: int, bad: tuple[str, str]) -> None:
    lines, line = fz.with_bad_line(rows, at, bad)
    _, kept = refused_then_skipped(lines, line)
    assert len(kept.tasks) == len(rows)


def check_duplicate_task_id(rows: list[dict[str, Any]], task_id: str) -> None:
    lines = fz.jsonl([dict(r, task_id=task_id) for r in rows + rows[:1]])
    err, _ = fz.rejection(load_dataset, DatasetError, lines)
    assert err.line == 2 and "duplicate task_id" in err.reason


def check_mutated_dataset(data: st.DataObject) -> None:
    rows = data.draw(dr_files)
    blob = data.draw(fz.byte_mutations(fz.encode_lines(fz.jsonl(rows))))
    with fz.bytes_file(blob) as path:
        for skip in (False, True):
            try:
                got = load_dataset(path, skip_bad=skip)
            except DatasetError as exc:
                assert str(exc).startswith(str(path))
                continue
            assert all(t.question.strip() and t.ground_truth for t in got.tasks)


@contextmanager
def gaia_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-gaia-") as tmp:
        root = Path(tmp)
        folder = root / "gaia"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.txt").write_text("inside")
        (folder / "sub" / "b.txt").write_text("inside")
        (root / "secret.txt").write_text("outside")
        (folder / "link.txt").symlink_to(root / "secret.txt")
        (folder / "loop").symlink_to(folder / "loop")
        yield folder


file_names = st.sampled_from(
    ["a.txt", "./a.txt", "sub/b.txt", "sub/../a.txt", "../secret.txt", "link.txt", "loop",
     "/etc/passwd", "sub", ".", "", "a.txt\x00", "x" * 5000, "../gaia/a.txt", "~/.ssh/id_rsa"]
) | st.text(max_size=30)  # fmt: skip


def check_gaia_attachment_stays_inside(name: Any, level: Any) -> None:
    with gaia_folder() as folder:
        row = {
            "task_id": "t1",
            "Question": "What is in the file?",
            "file_name": name,
            "Level": level,
        }
        (folder / "metadata.jsonl").write_bytes(fz.encode_lines([fz.dump(row)]))
        try:
            data = load_dataset(folder)
        except DatasetError as exc:
            assert str(exc).startswith(f"{folder / 'metadata.jsonl'}:1: ")
            return
        (task,) = data.tasks
        if task.file_path is not None:
            assert task.file_path.is_relative_to(folder.resolve()) and task.file_path.is_file()
            assert task.file_path.read_text() != "outside"  # never the file next to the folder


test_dataset_read, test_dataset_read_long = fz.twin(dr_files)(check_dataset_read)
test_bad_dataset_field, test_bad_dataset_field_long = fz.twin(
    dr_files, fz.positions, st.sampled_from(sorted(DR_BAD)), st.data()
)(check_bad_dataset_field)
test_bad_dataset_line, test_bad_dataset_line_long = fz.twin(
    dr_files, fz.positions, fz.raw_bad_lines()
)(check_bad_dataset_line)
test_duplicate_task_id, test_duplicate_task_id_long = fz.twin(
    dr_files, st.text(min_size=1, max_size=10), short=30
)(check_duplicate_task_id)
test_mutated_dataset, test_mutated_dataset_long = fz.twin(st.data())(check_mutated_dataset)
test_gaia_attachment_inside, test_gaia_attachment_inside_long = fz.twin(
    file_names | fz.json_values, st.none() | st.integers(1, 3) | st.text(max_size=3), short=60
)(check_gaia_attachment_stays_inside)

# ---------------------------------------------------------------- planner replies

plan_steps = st.lists(
    st.fixed_dictionaries({"id": st.integers(-(2**40), 2**40), "description": fz.nonblank}),
    min_size=1,
    max_size=4,
)
replies = st.one_of(
    st.builds(lambda s, u: {"plan": s, "used_cases": u}, plan_steps, st.lists(st.text(max_size=8))),
    st.builds(lambda a, u: {"answer": a, "used_cases": u}, fz.texts, st.lists(st.text(max_size=8))),
)
wrappers = st.sampled_from(["{}", "```json\n{}\n```", "Here is my plan:\n{}\nDone.", "```\n{}```"])


def check_valid_reply_parses(reply: dict[str, Any], wrapper: str) -> None:
    text = wrapper.replace("{}", json.dumps(reply, ensure_ascii=False), 1)
    out = parse_planner_output(text)
    assert out == PlannerOutput.model_validate(reply)


def check_any_reply_is_parsed_or_refused(text: str) -> None:
    try:
        out = parse_planner_output(text)
    except PlannerOutputError as exc:
        assert str(exc)  # the message goes back to the planner for repair: never empty
        return
    assert (out.plan is None) != (out.answer is None)
    assert out.plan is None or len(out.plan) >= 1


NASTY_REPLIES = [
    '{"a": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"answer": "\\ud800"}',
    '{"plan": [{"id": ' + "9" * 5000 + ', "description": "x"}]}',
    '{"answer": "x", "plan": null}',
    '{"answer": NaN}',
]
any_replies = (
    st.text(max_size=200)
    | fz.json_values.map(json.dumps)
    | st.sampled_from(NASTY_REPLIES)
    | replies.map(lambda r: json.dumps(r)[: len(json.dumps(r)) // 2])
)

test_valid_reply_parses, test_valid_reply_parses_long = fz.twin(replies, wrappers)(
    check_valid_reply_parses
)
test_any_reply_parsed_or_refused, test_any_reply_parsed_or_refused_long = fz.twin(any_replies)(
    check_any_reply_is_parsed_or_refused
)

# ---------------------------------------------------------------- answer metrics

any_text = st.text(max_size=80) | st.text(st.characters(codec=None), max_size=20)
families = st.sampled_from(METRIC_FAMILIES)


def check_metrics(pred: str | None, truths: list[str], family: Any) -> None:
    s = score(pred, truths, family)
    assert all(0.0 <= v <= 1.0 for v in (s.em, s.f1, s.pm))
    if s.em == 1.0:
        assert s.f1 == 1.0 and s.pm == 1.0
    if pred is not None:
        once = normalize(pred, family)
        assert normalize(once, family) == once
        if once and split_answers(pred):
            assert score(pred, [pred], family).em == 1.0


test_metrics, test_metrics_long = fz.twin(
    st.none() | any_text, st.lists(any_text, max_size=4), families
)(check_metrics)

# ---------------------------------------------------------------- Settings from the environment

ENV_FIELDS = {
    "MEMENTO_HOME": "home",
    "MEMENTO_CHROMA_URL": "chroma_url",
    "MEMENTO_CHROMA_AUTH_HEADER": "chroma_auth_header",
    "MEMENTO_CHECKPOINTER": "checkpointer",
    "MEMENTO_COLLECTION": "collection",
    "MEMENTO_NAMESPACE": "namespace",
    "MEMENTO_DEDUP_THRESHOLD": "dedup_threshold",
    "MEMENTO_LLM": "llm",
    "MEMENTO_PLANNER_MODEL": "planner_model",
    "OPENAI_API_KEY": "openai_api_key",
    "OPENAI_BASE_URL": "openai_base_url",
    "TAVILY_API_KEY": "tavily_api_key",
}
env_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
env_values = env_text | st.sampled_from(
    ["nan", "inf", "-1", "0", "1", "1.0000001", "0.5", "1e999", "", " ", "x", "true", "null"]
)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ENV_FIELDS}
    try:
        for k in ENV_FIELDS:
            os.environ.pop(k, None)
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_settings(values: dict[str, str]) -> None:
    with environment(values):
        try:
            s = Settings()
        except ValidationError as exc:
            bad = {".".join(map(str, e["loc"])) for e in exc.errors()}
            assert bad and bad <= {ENV_FIELDS[k] for k in values}
            assert all(name in str(exc) for name in bad)
            return
    assert s.dedup_threshold is None or 0.0 < s.dedup_threshold <= 1.0
    assert s.namespace and 3 <= len(s.collection) <= 512
    for key, field in ENV_FIELDS.items():
        if key in values and field in ("llm", "planner_model", "openai_base_url", "chroma_url"):
            assert getattr(s, field) == values[key]


test_settings_from_junk_env, test_settings_from_junk_env_long = fz.twin(
    st.dictionaries(st.sampled_from(sorted(ENV_FIELDS)), env_values, max_size=5)
)(check_settings)
