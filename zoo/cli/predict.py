"""`zoo predict BUNDLE INPUT...` and `zoo generate BUNDLE`: a bundle's answers without a server,
through the server's own input and output code (``serve.local``)."""

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Dict, Iterator, List, Optional

import typer

from serve.limits import Limits
from zoo.models.graphs import SEED_MAX
from zoo.cli.console import console, fail, user_errors

TOP_MAX = 100  # as the server's top_k
MAX_SEQUENCE = 65_536  # --max-sequence: 16 times the server's default; memory grows with it


def _number(value: float) -> str:
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def describe(task: str, result: Dict[str, Any]) -> str:
    """One line for a result of ``task`` (the --json output holds all of it)."""
    if "label" in result:  # classification, binary classification
        line = f"{result['label']} ({_number(result['probability'])})"
        others = [f"{r['label']} {_number(r['probability'])}" for r in result.get("top", [])[1:]]
        return line + (f"; then {', '.join(others)}" if others else "")
    if "next" in result:  # language models: the next token after the text
        return "next: " + ", ".join(f"{r['token']!r} {_number(r['probability'])}" for r in result["next"])
    if "forecast" in result:
        return f"forecast {_number(result['forecast'])} (one per step: {len(result['predictions'])})"
    if "prediction" in result:
        return "prediction " + ", ".join(_number(v) for v in result["prediction"])
    if "entities" in result:  # a tagger's spans: type, text, offsets (end exclusive), score
        found = [f"{e['type']} {e['text']!r} [{e['start']}:{e['end']}] {_number(e['score'])}" for e in result["entities"]]
        return "; ".join(found) if found else f"no entities in {len(result['tokens'])} word{'s' if len(result['tokens']) != 1 else ''}"
    if "tokens" in result:  # tagging, seq2seq
        return repr(result["text"]) if result.get("text") is not None else " ".join(map(str, result["tokens"]))
    return ", ".join(f"{name} {value['shape']}" for name, value in result.items())  # encoders: tensors


def predict_command(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="A bundle written by `zoo export` (a folder holding manifest.json).")],
    inputs: Annotated[Optional[List[str]], typer.Argument(metavar="INPUT", show_default=False,
                      help="Text models: texts. Others: numbers ('0.1,0.5'; after -- when the first is negative), a .npy, a .json list of instances, or an image file.")] = None,
    lines: Annotated[Optional[Path], typer.Option("--lines", metavar="FILE", help="Also one instance per line of FILE (- reads stdin).")] = None,
    runtime: Annotated[str, typer.Option(help="onnxruntime (model.onnx) or torchscript (model.pt).")] = "onnxruntime",
    top_k: Annotated[int, typer.Option(min=1, max=TOP_MAX, help="Labels or next tokens listed per result.")] = 3,
    max_len: Annotated[Optional[int], typer.Option(min=1, help="seq2seq: longest decoded output (default: 2 x source + 2).")] = None,
    max_sequence: Annotated[int, typer.Option(min=1, max=MAX_SEQUENCE, help="Longest instance, in steps (what a run holds in memory grows with it).")] = Limits().max_sequence,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line: the server's result plus the input.")] = False,
    allow_unverified: Annotated[bool, typer.Option("--allow-unverified", help="Run a bundle whose manifest records no passed `zoo verify`.")] = False,
) -> None:  # fmt: skip
    """Run a bundle on your inputs here, without a server.

    Answers what `zoo serve` answers to /predict: labels with probabilities, the next token,
    forecasts, decoded text, or a tagger's entities with their character offsets."""
    from serve.inputs import takes_text
    from serve.instances import instances
    from serve.local import LocalModel

    with user_errors():
        if not inputs and lines is None:
            raise ValueError("give at least one INPUT, or --lines FILE; see `zoo predict --help`")
        model = LocalModel(bundle, runtime, allow_unverified, max_sequence)
        pixels = (model.model.manifest.get("data") or {}).get("pixels")
        text = takes_text(model.data_input())
        given = instances(inputs or [], lines, model.data_input(), pixels, max_sequence)
        with _output():
            for source, result in model.predict(given, top_k, {"max_len": max_len}):
                shown = json.dumps(source[:60], ensure_ascii=False) if text else source  # a text's spaces stay visible
                if as_json:
                    print(json.dumps({"input": source, **result}, ensure_ascii=False), flush=True)
                else:
                    console.print(f"{shown}  ->  {describe(model.task, result)}", markup=False, highlight=False, soft_wrap=True)


def generate_command(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="A bundle of a character language model (char-rnn, char-lstm, char-gru).")],
    prefix: Annotated[str, typer.Option(help="Text the sample continues; its characters must be in the vocabulary.")] = "\n",
    steps: Annotated[int, typer.Option(min=1, max=Limits().max_sequence, help="Characters to generate.")] = 200,
    temperature: Annotated[float, typer.Option(min=0, max=1000, help="0 = greedy; otherwise in [0.001, 1000], lower is more conservative.")] = 0.8,
    top_k: Annotated[int, typer.Option(min=0, help="Sample from the k most likely characters (0 = all; at most the vocabulary).")] = 0,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Seed of the sampler: the same seed gives the same text as in PyTorch and the server.")] = 0,
    runtime: Annotated[str, typer.Option(help="onnxruntime (generate.onnx) or torchscript (model.pt).")] = "onnxruntime",
    as_json: Annotated[bool, typer.Option("--json", help="Print the server's reply (prefix, text, token ids) as JSON.")] = False,
    allow_unverified: Annotated[bool, typer.Option("--allow-unverified", help="Run a bundle whose manifest records no passed `zoo verify`.")] = False,
) -> None:  # fmt: skip
    """Sample text from a character language model's bundle, without a server."""
    from serve.local import LocalModel

    with user_errors():
        model = LocalModel(bundle, runtime, allow_unverified)
        reply = model.generate({"prefix": prefix, "steps": steps, "temperature": temperature, "top_k": top_k, "seed": seed})
    with _output():
        if as_json:
            print(json.dumps(reply, ensure_ascii=False), flush=True)
        else:
            console.print(reply["text"], markup=False, highlight=False, soft_wrap=True)


@contextmanager
def _output() -> Iterator[None]:
    """Writing the results: a reader that went away (`| head -1`) ends the command quietly; a
    full disk or another write error is one line, exit 1."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        raise typer.Exit(1) from None
    except OSError as exc:
        fail(f"writing the results: {exc.strerror or exc}", code=1)
