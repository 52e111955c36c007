"""Serving zoo bundles: an HTTP server (``zoo serve``), the C++ and Node.js loaders
(``serve/cpp``, ``serve/node``). The server reads only the bundle — manifest, model file,
vocabulary and labels — never the model code: it reads bundles through ``zoo.store`` and checks
inputs with ``export.feeds`` (neither imports torch or a model), and imports onnxruntime, and
torch only for ``--runtime torchscript``.
"""
