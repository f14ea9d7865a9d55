"""Answer metrics: exact match, token F1 and partial match in two normalisation families.

`squad` is the usual SQuAD answer normalisation (lower case, punctuation removed, articles
a/an/the removed, white space collapsed) with F1 over token multisets.

`deepresearcher` is the scorer that the DeepResearcher and Memento papers report (their 66.6 F1 /
80.4 PM): lower-case both sides; split the ground truth on ``<|answer_split|>``; replace every ASCII
punctuation character by a space, collapse runs of white space, strip; EM is 1 when the prediction
equals one normalised ground truth; F1 is over token SETS (precision = |P & G| / |P|, recall =
|P & G| / |G|); every score is the maximum over the accepted answers, and F1 is 0 when either side
has no tokens.

Partial match (PM), in both families: 1 when a normalised ground truth is contained in the
normalised prediction or the reverse, best over the accepted answers; 0 when either normalised side
is empty (so that an empty prediction never "contains" an answer). Likewise EM needs a non-empty
normalised prediction: an answer that normalises to nothing (such as GAIA's hidden "?") is never
matched by an empty prediction.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

ANSWER_SPLIT = "<|answer_split|>"
"""Separator of the accepted answers in a DeepResearcher ground-truth string."""

MetricFamily = Literal["squad", "deepresearcher"]
"""Name of a normalisation family; every report names the one it used."""

METRIC_FAMILIES: tuple[str, ...] = get_args(MetricFamily)
DEFAULT_FAMILY: MetricFamily = "deepresearcher"

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT_SET = frozenset(string.punctuation)
_PUNCT_TO_SPACE = str.maketrans({c: " " for c in string.punctuation})


class Scores(BaseModel):
    """EM, F1 and PM of one prediction against its accepted answers, each in [0, 1]."""

    model_config = ConfigDict(frozen=True)

    em: float = Field(description="Exact match after normalisation (0 or 1).")
    f1: float = Field(description="Best token F1 over the accepted answers.")
    pm: float = Field(description="Partial match: containment either way (0 or 1).")


def split_answers(ground_truth: str | Sequence[str]) -> list[str]:
    """Return the accepted answers of a ground truth.

    Args:
        ground_truth: One string whose answers are joined by ``<|answer_split|>``, or a sequence
            of answers (each of which may itself hold joined answers).

    Returns:
        The answers, in order, without empty entries.
    """
    items = [ground_truth] if isinstance(ground_truth, str) else list(ground_truth)
    answers: list[str] = []
    for item in items:
        answers.extend(part for part in str(item).split(ANSWER_SPLIT) if part.strip())
    return answers


def normalize_squad(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse white space."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT_SET)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def normalize_deepresearcher(text: str) -> str:
    """DeepResearcher normalisation: lower case, punctuation to spaces, collapse, strip."""
    return " ".join(text.lower().translate(_PUNCT_TO_SPACE).split())


def normalize(text: str, family: MetricFamily = DEFAULT_FAMILY) -> str:
    """Normalise `text` with the named family."""
    if family == "squad":
        return normalize_squad(text)
    if family == "deepresearcher":
        return normalize_deepresearcher(text)
    raise ValueError(f"unknown metric family {family!r}; expected one of {METRIC_FAMILIES}")


def _f1_multiset(pred: Sequence[str], truth: Sequence[str]) -> float:
    if not pred or not truth:
        return 0.0
    common = sum((Counter(pred) & Counter(truth)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(truth)
    return 2 * precision * recall / (precision + recall)


def _f1_set(pred: Iterable[str], truth: Iterable[str]) -> float:
    p, g = set(pred), set(truth)
    if not p or not g:
        return 0.0
    common = len(p & g)
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _pm(pred: str, truth: str) -> float:
    if not pred or not truth:
        return 0.0
    return 1.0 if truth in pred or pred in truth else 0.0


def score(
    prediction: str | None,
    ground_truth: str | Sequence[str],
    family: MetricFamily = DEFAULT_FAMILY,
) -> Scores:
    """Score one prediction against its accepted answers.

    Args:
        prediction: The system's answer; None counts as an empty answer.
        ground_truth: The accepted answers (joined string or sequence, see `split_answers`).
        family: `"deepresearcher"` (default) or `"squad"`.

    Returns:
        EM, F1 and PM, each the best over the accepted answers; all 0 when there are none or
        when the normalised prediction is empty.
    """
    if family not in METRIC_FAMILIES:
        raise ValueError(f"unknown metric family {family!r}; expected one of {METRIC_FAMILIES}")
    pred = normalize(prediction or "", family)
    pred_tokens = pred.split()
    f1_of = _f1_set if family == "deepresearcher" else _f1_multiset
    em = f1 = pm = 0.0
    for answer in split_answers(ground_truth):
        truth = normalize(answer, family)
        em = max(em, 1.0 if pred and pred == truth else 0.0)
        f1 = max(f1, f1_of(pred_tokens, truth.split()))
        pm = max(pm, _pm(pred, truth))
    return Scores(em=em, f1=f1, pm=pm)


def exact_match(
    prediction: str | None,
    ground_truth: str | Sequence[str],
    family: MetricFamily = DEFAULT_FAMILY,
) -> float:
    """EM of `prediction` (see `score`)."""
    return score(prediction, ground_truth, family).em


def f1_score(
    prediction: str | None,
    ground_truth: str | Sequence[str],
    family: MetricFamily = DEFAULT_FAMILY,
) -> float:
    """Token F1 of `prediction` (see `score`)."""
    return score(prediction, ground_truth, family).f1


def partial_match(
    prediction: str | None,
    ground_truth: str | Sequence[str],
    family: MetricFamily = DEFAULT_FAMILY,
) -> float:
    """PM of `prediction` (see `score`)."""
    return score(prediction, ground_truth, family).pm
