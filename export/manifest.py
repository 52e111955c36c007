"""``manifest.json``: what a bundle holds and how to run it, readable without the model code
(``zoo.store.bundle`` reads and checks it; this module builds its model entries).

Schema version 1 (every key always present):
- ``model``: name, task, what the task's outputs mean, config, description.
- ``source``: the run directory or registry seed the weights came from.
- ``labels``, ``vocabulary`` (``{"tokens", "unknown"}``; id 0 is padding), ``tokenizer``
  (``{"kind": "characters"}`` or ``{"kind": "words", "lowercase", "pattern"}``), ``data``: from
  the run's data set (``null`` for a registry export).
- ``training``: ``{"seed", "bptt"}`` of the run: the seed that split its data set and the window
  a language model reads it in, for `zoo evaluate BUNDLE` (``null`` for a registry export).
- ``graphs``: for each graph (``forward``, and each extra graph the spec declares, such as
  ``generate``/``decode``): its ONNX file (or ``null`` with the reason it has none),
  ``exporter``, the file's ``opset``, ``inputs`` and ``outputs`` as ``{"name", "dtype",
  "shape", "doc"}`` with symbolic dims as strings (and ``vocab`` for token ids; outputs also
  carry ``meaning``, ``"logits"`` or ``"probability"``, added in place: a manifest without it
  is read by the name convention, an output named ``probability`` holds probabilities), the
  ``ops`` it uses, and ``arguments``: how the input names nest as positional arguments of the
  TorchScript method (``["tokens", ["h_0", "c_0"]]``). An extra graph a server answers with
  has ``endpoint``: ``{"route": "generate" | "predict", "reply": "text" | "continuation",
  "parameters": [{"name", "default", "minimum", "maximum", "zero", "per_step"}]}``
  (``zoo.registry.Endpoint``; added in place: ``serve.endpoints`` reads a manifest without it
  as the graphs ``generate`` and ``decode`` were served before).
  With an ONNX file: ``recurrent``, ``{"mode": "native" | "loop" | "program", "layers": [...]}``
  ("program": the dynamo exporter on the graph's torch.export program, its while_loops ONNX Loops),
  one entry per recurrent layer (``module``, ``layer`` class, ``implementation``,
  ``onnx_nodes``, ``direction``, ``replaced_by_twin`` and ``twin``, ``one_step`` where a
  generate/decode step runs as matrix products), checked against the file by ``zoo verify``;
  and for ``forward`` exported with ``--quantize int8``, ``int8``: its file, the method, its
  integer operators and the float compute operators it kept. With ``--format pt2``, ``pt2``:
  ``{"file", "loop": "while_loop" | null, "dynamic": [axis names], "layers": [...]}`` (each
  recurrent layer, with the ``zoo.nn`` twin that replaced a ``torch.nn`` one); with ``--format
  aoti``, ``aoti``: ``{"file", "device": "cpu", "compile_seconds"}`` or ``{"file": null,
  "reason"}`` where AOTInductor failed. Loaders open these files by their fixed names
  (``model.pt2``, ``NAME.pt2``, ``model.aoti.pt2``, ``NAME.aoti.pt2``), never by these fields.
- ``state_pairs`` (``{"input", "output"}``: feed the output back to continue a sequence) and
  ``ragged`` (``{"lengths", "sequence"}``) of ``forward``.
- ``files``: every other file of the bundle with sha256 and size, except ``parity.json``
  (a report that each ``zoo verify`` rewrites). Every path in the manifest is relative, without
  ``..``, stays inside the bundle when its symbolic links are followed, and is listed here; a
  file in the bundle that is not listed makes it refused (``zoo.store.check_files``).
- ``export``: formats, exporter, the opset asked for, ``recurrent`` and ``quantize``; ``versions``: torch, onnx, onnxruntime, zoo, python.
- ``test_vectors``: each ``test_data_set_K`` folder with the case it came from.
- ``parity``: the summary of the latest verification (``passed``, devices, comparisons,
  failures, worst errors, skipped runtimes), written at export and by each ``zoo verify``
  without ``--report``; ``null`` when the bundle was never verified. ``zoo serve`` serves a
  bundle only when it says ``"passed": true``.
"""

from typing import Any, Dict

from zoo.registry import TASKS, TensorSpec


def tensor_entry(spec: TensorSpec) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"name": spec.name, "dtype": spec.dtype, "shape": list(spec.shape), "doc": spec.doc}
    if spec.vocab is not None:
        entry["vocab"] = spec.vocab
    return entry


def task_meaning(task: str) -> str:
    return TASKS[task]
