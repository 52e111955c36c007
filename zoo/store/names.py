"""The fixed file names of a run directory (``zoo train``) and of a bundle (``zoo export``).

Every reader and writer takes them from here, so a run or a bundle is laid out in one place.
"""

# A run directory (``zoo.store.run``).
CONFIG = "config.json"  # model name and config, data set, training arguments, versions
WEIGHTS = "weights.safetensors"  # the best weights (also a bundle's weights)
LAST = "last"  # the checkpoint for an exact resume
METRICS = "metrics.jsonl"  # one line per epoch, [--grad-norms probes,] then one for the test split

# A bundle (``zoo.store.bundle``).
MANIFEST = "manifest.json"  # what the bundle holds and how to run it
PARITY = "parity.json"  # the latest verification report, rewritten by each `zoo verify`
MODEL_PT = "model.pt"  # the TorchScript module
