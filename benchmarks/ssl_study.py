"""The SSL + active-learning study ("Reducing Label Effort", ICCV 2021 workshop) on Fashion-MNIST 10k and digits.

Frozen embeddings (pixels->PCA and SimSiam trained on the pool without labels; EfficientNet-Lite0 when asked),
heads logreg and svm, methods random, entropy, kcenter, vaal, svm_margin and auto, budgets 1..20 labels per class,
repeats with their standard error. Prints JSON: per embedding, head, method and budget range the AUC (mean accuracy
over the range's points) and its standard error, the sentence on where random is within one standard error of the
best method, the simulated curves, and wall / CPU seconds of the embedding and of the study; also writes it to
benchmarks/results/ssl_study-<data>.json.

    nice -n 10 .venv/bin/python benchmarks/ssl_study.py fashion-mnist --repeats 3
    nice -n 10 .venv/bin/python benchmarks/ssl_study.py digits --repeats 3

SimSiam on a CPU is the slow part: ``--simsiam-epochs 4 --simsiam-width 16`` (the default here) trains 4 epochs of a
width-16 backbone; the embedding is cached, so a second run reuses it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from alviz.study import load_study_data, run_study, study_table, table_text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", choices=["fashion-mnist", "digits"])
    ap.add_argument("--embeddings", default="pixels_pca,simsiam")
    ap.add_argument("--heads", default="logreg,svm")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-per-class", type=int, default=20)
    ap.add_argument("--simsiam-epochs", type=int, default=4)
    ap.add_argument("--simsiam-width", type=int, default=16)
    ap.add_argument("--torch-threads", type=int, default=1, help="1: on 2 busy cores, 2 threads ran SimSiam 3x slower")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    sizes = {"n_pool": 10_000, "n_test": 2_000} if args.data == "fashion-mnist" else None
    params = {"simsiam": {"epochs": args.simsiam_epochs, "width": args.simsiam_width}}
    embeddings = args.embeddings.split(",")
    t0, c0 = time.perf_counter(), time.process_time()
    data = load_study_data(args.data, embeddings, sizes, params)
    embed_wall, embed_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    with tqdm(total=1000, desc="study", file=sys.stderr) as bar:

        def progress(f: float, msg: str) -> None:
            bar.n = int(1000 * f)
            bar.set_postfix_str(msg, refresh=True)

        study = run_study(
            data, args.heads.split(","), max_per_class=args.max_per_class, repeats=args.repeats, progress=progress
        )
    rows, sentences = study_table(study)
    out = {
        "data": args.data,
        "n_pool": len(next(iter(data.values())).X),
        "embedding_params": {e: params.get(e, {}) for e in embeddings},
        "seconds": {"embed_wall": round(embed_wall, 1), "embed_cpu": round(embed_cpu, 1)},
        "table": rows,
        "summary": sentences,
        **study,
    }
    out["seconds"].update(study_wall=round(time.perf_counter() - t0, 1), study_cpu=round(time.process_time() - c0, 1))
    text = json.dumps(out, indent=1)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / f"ssl_study-{args.data}.json").write_text(text)
    print(text)
    print(table_text(rows), *sentences, sep="\n")


if __name__ == "__main__":
    main()
