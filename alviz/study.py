"""The SSL + active-learning study as a preset: does any query method beat random at low budgets?

After "Reducing Label Effort: Self-Supervised meets Active Learning" (ICCV 2021 workshop): embed the pool once
(frozen features: pixels->PCA, a SimSiam backbone trained on the pool without labels, or pretrained
EfficientNet-Lite0), fit a linear head (logistic regression or linear SVM) on the labels, and compare Entropy,
k-center (core-set), VAAL and SVM min-margin with random (and alviz's ``auto``) from 1 to 20 labels per class.
Its finding: with a self-supervised backbone random is hard to beat at low budgets; methods separate as labels grow.

``run_study`` simulates (``alviz.simulate.run``: initial = batch = one label per class on average, so point i of a
curve holds i + 1 labels per class); ``study_table`` is pure: from those results to the AUC per budget range with
its standard error over repeats, and one sentence per (embedding, head) saying where random is within one
standard error of the best method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from alviz.simulate import Progress, SimData, run

METHODS = ("random", "entropy", "kcenter", "vaal", "svm_margin", "auto")
HEADS = ("logreg", "svm")
EMBEDDINGS = ("pixels_pca", "simsiam", "efficientnet_lite0")
RANGES = ((1, 2), (3, 5), (6, 10), (11, 20))  # labels per class, inclusive


def budget_ranges(max_per_class: int) -> list[tuple[int, int]]:
    """RANGES cut at ``max_per_class``."""
    return [(lo, min(hi, max_per_class)) for lo, hi in RANGES if lo <= max_per_class]


def run_study(
    data: dict[str, SimData],
    heads: Sequence[str] = HEADS,
    methods: Sequence[str] = METHODS,
    max_per_class: int = 20,
    repeats: int = 3,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Simulate every (embedding, head, method); returns ``{"max_per_class", "repeats", "n_classes", "results":
    {embedding: {head: result.json}}}`` (result.json as in DESIGN.md §4, budgets 1..max_per_class per class)."""
    if not data:
        raise ValueError("Choose at least one embedding for the study.")
    if not heads:
        raise ValueError(f"Choose at least one head for the study ({', '.join(HEADS)}).")
    if max_per_class < 2:
        raise ValueError(f"The study needs budgets up to at least 2 labels per class; got {max_per_class}.")
    first = next(iter(data.values()))
    n_classes = int(len(np.unique(first.y)))
    if n_classes < 2:
        raise ValueError("The data has one class only: there is nothing to learn.")
    if n_classes * max_per_class >= len(first.X):
        raise ValueError(
            f"{max_per_class} labels per class ({n_classes} classes) would label the whole pool of {len(first.X)}."
        )
    jobs = [(e, h) for e in data for h in heads]
    out: dict = {"max_per_class": max_per_class, "repeats": repeats, "n_classes": n_classes, "results": {}}
    for j, (emb, head) in enumerate(jobs):
        d = data[emb]

        def part(f: float, msg: str, j: int = j, emb: str = emb, head: str = head) -> None:
            if progress:
                progress((j + f) / len(jobs), f"{emb} + {head}: {msg}")

        out["results"].setdefault(emb, {})[head] = run(
            d.X,
            d.y,
            d.X_test,
            d.y_test,
            list(methods),
            initial=n_classes,
            batch=n_classes,
            rounds=max_per_class - 1,
            repeats=repeats,
            model=head,
            seed=seed,
            data_name=f"{d.name} / {emb}",
            progress=part,
        )
    return out


def _range_auc(curve: dict, n_classes: int, lo: int, hi: int) -> tuple[float, float, int]:
    """(mean over repeats, standard error over repeats, points) of the accuracy averaged over the curve's points
    with lo..hi labels per class."""
    per_class = np.asarray(curve["n_labeled"]) / n_classes
    cols = (per_class >= lo - 1e-9) & (per_class <= hi + 1e-9)
    runs = np.asarray(curve["runs"])[:, cols]
    if not cols.any():
        return float("nan"), float("nan"), 0
    per_run = runs.mean(axis=1)
    se = float(per_run.std(ddof=1) / np.sqrt(len(per_run))) if len(per_run) > 1 else float("nan")
    return float(per_run.mean()), se, int(cols.sum())


def study_table(study: dict) -> tuple[list[dict], list[str]]:
    """Rows ``{embedding, head, budget, method, auc, se}`` (one per budget range and method) and one sentence
    per (embedding, head): in which budget ranges random is within one standard error of the best method; when
    ``auto`` ran, a second one for the paper's methods alone (entropy, kcenter, vaal, svm_margin).

    "Within one standard error": best AUC - random AUC <= the larger of their standard errors over repeats. With
    one repeat there is no standard error and the sentence says so."""
    n_classes = study["n_classes"]
    rows: list[dict] = []
    sentences: list[str] = []
    for emb, by_head in study["results"].items():
        for head, result in by_head.items():
            # rivals of random: every method, then (when auto ran) the paper's methods alone
            groups = {"": lambda m: m != "random", ", the paper's methods only": lambda m: m not in ("random", "auto")}
            if "auto" not in result["strategies"]:
                groups.popitem()
            verdicts = {g: ([], []) for g in groups}  # (close, apart) per rival group
            for lo, hi in budget_ranges(study["max_per_class"]):
                budget = f"{lo}-{hi}" if hi > lo else f"{lo}"
                cells = {m: _range_auc(c, n_classes, lo, hi) for m, c in result["strategies"].items()}
                cells = {m: c for m, c in cells.items() if c[2]}
                for m, (auc, se, _) in cells.items():
                    rows.append({"embedding": emb, "head": head, "budget": budget, "method": m, "auc": auc, "se": se})
                for g, rival in groups.items():
                    others = {m: c for m, c in cells.items() if rival(m)}
                    if "random" not in cells or not others:
                        continue
                    best = max(others, key=lambda m: others[m][0])
                    gap, se = others[best][0] - cells["random"][0], max(others[best][1], cells["random"][1])
                    close, apart = verdicts[g]
                    (close if not np.isnan(se) and gap <= se else apart).append((budget, best, gap))
            for g, (close, apart) in verdicts.items():
                if close or apart or study["repeats"] < 2:
                    sentences.append(_sentence(f"{emb} + {head}{g}", close, apart, study["repeats"]))
    return rows, sentences


def _sentence(where: str, close: list, apart: list, repeats: int) -> str:
    if repeats < 2:
        return f"{where}: one repeat, so no standard error to compare random with (run 2 or more repeats)."

    def fmt(items: list) -> str:
        return ", ".join(f"{b} labels/class ({m} {'+' if g >= 0 else ''}{g:.3f})" for b, m, g in items)

    parts = []
    if close:
        parts.append(f"random is within one standard error of the best method at {fmt(close)}")
    if apart:
        parts.append(f"the best method beats random by more than one standard error at {fmt(apart)}")
    return f"{where}: " + "; ".join(parts) + "."


def table_text(rows: list[dict]) -> str:
    """The rows as a fixed-width text table: one line per (embedding, head, method), one column per budget."""
    budgets = list(dict.fromkeys(r["budget"] for r in rows))
    cells: dict[tuple, dict[str, str]] = {}
    for r in rows:
        se = "" if np.isnan(r["se"]) else f"±{r['se']:.3f}"
        cells.setdefault((r["embedding"], r["head"], r["method"]), {})[r["budget"]] = f"{r['auc']:.3f}{se}"
    head = f"{'embedding':<19}{'head':<8}{'method':<12}" + "".join(f"{b + ' /cls':>16}" for b in budgets)
    lines = [head]
    for (emb, h, m), by in cells.items():
        lines.append(f"{emb:<19}{h:<8}{m:<12}" + "".join(f"{by.get(b, ''):>16}" for b in budgets))
    return "\n".join(lines)


def load_study_data(
    source: str,
    embeddings: Sequence[str],
    sizes: dict | None = None,
    params: dict[str, dict] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, SimData]:
    """A named dataset embedded by each embedder (frozen features; the same test split for all of them)."""
    from alviz.simulate import load_sim_data

    out = {}
    for i, method in enumerate(embeddings):

        def part(f: float, msg: str, i: int = i, method: str = method) -> None:
            if progress:
                progress((i + f) / len(embeddings), f"embedding with {method}: {msg}")

        kw = {"n_pool": sizes.get("n_pool"), "n_test": sizes.get("n_test")} if sizes else {}
        out[method] = load_sim_data(source, method=method, params=(params or {}).get(method), progress=part, **kw)
    return out


def split_names(text: str, valid: Sequence[str], what: str) -> list[str]:
    """A comma-separated list checked against the valid names (one-line error naming them)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        got = ", ".join(map(repr, unknown)) if unknown else "none"
        raise ValueError(f"Unknown {what} {got}; choose from {', '.join(valid)}.")
    return names


def simsiam_params(epochs: int | None) -> dict[str, dict]:
    """Embedder params for the study: SimSiam with a given number of epochs (None: its own 'auto')."""
    return {} if epochs is None else {"simsiam": {"epochs": epochs}}
