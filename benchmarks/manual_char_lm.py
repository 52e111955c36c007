"""The hand-written RNN as a language model: `zoo train char-rnn` with torch.nn's layer and with
``--set manual=true`` (the ``zoo.nn.RNN`` twin), side by side.

Both runs use char-rnn's recipe, the same seed and the same data order, so they differ only in
which layer computes the recurrence. Prints one row per run (training seconds, tokens per
second, best validation loss, test loss) and the speed ratio, then each run's sample (300
characters after a newline, temperature 0.8, seed 0), and checks that the twin's trained
weights load into the torch.nn model and give the same validation loss: one set of weights
serves both layers. Never a timed test: figures go to the README and the issue note.

    .venv/bin/python benchmarks/manual_char_lm.py [--epochs 4] [--out runs]
"""

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List

import torch

from zoo.data import load_dataset
from zoo.rebuild import load_run
from zoo.registry import get_spec
from zoo.store import METRICS, read_jsonl
from zoo.train.loop import TrainRequest, train
from zoo.train.tasks import make_task

MODEL = "char-rnn"
LAYERS = {"torch.nn.RNN": False, "zoo.nn.RNN (manual=true)": True}


def _train(layer: str, manual: bool, args: argparse.Namespace) -> Dict[str, Any]:
    out = args.out / f"{MODEL}-{'manual' if manual else 'torch'}"
    request = TrainRequest(model=MODEL, overrides={"manual": manual}, out=out, overwrite=True, epochs=args.epochs,
                           limit_batches=args.limit_batches, device="cpu")  # fmt: skip
    started = time.perf_counter()
    result = train(request)
    seconds = time.perf_counter() - started
    history = read_jsonl(out / METRICS)
    epochs = [row for row in history if "epoch" in row and "split" not in row]
    train_seconds = sum(row["seconds"] for row in epochs)
    tokens = sum(row["steps"] for row in epochs) * 64 * 100  # recipe batch 64 x bptt 100 per step
    return {
        "layer": layer,
        "run": str(out),
        "seconds": seconds,
        "train_seconds": train_seconds,
        "tokens_per_s": tokens / max(train_seconds, 1e-9),
        "val_loss": result.best["loss"] if result.best else float("nan"),
        "test_loss": result.test["loss"] if result.test else float("nan"),
        "sample": result.sample or "",
    }


def _cross_check(manual_run: Path) -> float:
    """The twin's trained weights in the torch.nn model: its validation loss."""
    document, spec, config, model = load_run(manual_run)
    config = replace(config, manual=False)
    torch_model = spec.builder(config)
    torch_model.load_state_dict(model.state_dict())
    data = load_dataset(document["data"]["name"])
    task = make_task(spec, config, data, torch.device("cpu"))
    return task.evaluate(torch_model.eval(), "val")["loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=get_spec(MODEL).recipe.epochs)
    parser.add_argument("--limit-batches", type=int, default=None, help="steps per epoch (a quick check)")
    parser.add_argument("--out", type=Path, default=Path("runs"))
    args = parser.parse_args()
    rows: List[Dict[str, Any]] = [_train(layer, manual, args) for layer, manual in LAYERS.items()]
    print(f"\n{MODEL}, {args.epochs} epoch(s), torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| layer | training s | tokens/s | best val loss | test loss |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['layer']} | {row['train_seconds']:.0f} | {row['tokens_per_s']:,.0f} | {row['val_loss']:.4f} | {row['test_loss']:.4f} |")
    print(f"\nzoo.nn / torch.nn training time: {rows[1]['train_seconds'] / rows[0]['train_seconds']:.2f}x")
    print(f"the manual run's weights in torch.nn.RNN: validation loss {_cross_check(Path(rows[1]['run'])):.4f}")
    for row in rows:
        print(f"\nsample ({row['layer']}):\n{row['sample']}")


if __name__ == "__main__":
    main()
