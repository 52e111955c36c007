"""The one reader (and writer) of what the zoo leaves on disk: run directories and bundles.

Torch-free (json, numpy and safetensors' numpy API only), so that training, export, the
verifier and the server all read the same files the same way, and the server never imports
torch or the model code. One job per module:

- ``names``: the fixed file names (``config.json``, ``weights.safetensors``, ``manifest.json``...)
- ``atomic``, ``jsonio``: writes that never leave a half-written file; JSON and JSON lines
- ``weights``: safetensors files as numpy arrays
- ``configs``: a model's config dataclass <-> the JSON object runs and bundles hold
- ``versions``: the library versions a run or bundle records
- ``nesting``: nested arguments and outputs <-> flat lists (``flatten``, ``unflatten``)
- ``pairs``: a graph's state pairs and ragged pairs (from a manifest or a ``Signature``)
- ``rows``: the zero state, and ragged rows padded into a batch
- ``run``: a run directory; ``bundle``: a bundle directory (manifest, file hashes, weights)

``zoo.rebuild`` is the torch side: a model from a config and these weights, and back.
"""

from zoo.store.atomic import write_atomic, write_bytes
from zoo.store.bundle import SCHEMA_VERSION, BundleError, check_files, file_entries, inside, is_bundle, read_bundle_weights, read_manifest, sha256
from zoo.store.configs import config_from_dict, config_to_dict
from zoo.store.jsonio import read_json, read_jsonl, write_json, write_jsonl
from zoo.store.names import CONFIG, LAST, MANIFEST, METRICS, MODEL_PT, PARITY, WEIGHTS
from zoo.store.nesting import flatten, unflatten
from zoo.store.pairs import Pairs, graph_pairs, pairs_entries, signature_pairs
from zoo.store.rows import cut_row, pad_rows, zero_state
from zoo.store.run import RUN_ENTRIES, RunError, read_run, read_run_weights
from zoo.store.versions import versions
from zoo.store.weights import Arrays, read_weights, weights_bytes, write_weights

__all__ = [
    "CONFIG", "LAST", "MANIFEST", "METRICS", "MODEL_PT", "PARITY", "RUN_ENTRIES", "SCHEMA_VERSION", "WEIGHTS",
    "Arrays", "BundleError", "Pairs", "RunError",
    "check_files", "config_from_dict", "config_to_dict", "cut_row", "file_entries", "flatten", "graph_pairs", "inside", "is_bundle",
    "pad_rows", "pairs_entries", "read_bundle_weights", "read_json", "read_jsonl", "read_manifest", "read_run", "read_run_weights",
    "read_weights", "sha256", "signature_pairs", "unflatten", "versions", "weights_bytes", "write_atomic",
    "write_bytes", "write_json", "write_jsonl", "write_weights", "zero_state",
]  # fmt: skip
