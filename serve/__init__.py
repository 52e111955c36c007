"""Serving zoo bundles: an HTTP server (``zoo serve``), the C++ and Node.js loaders
(``serve/cpp``, ``serve/node``). The server reads only the bundle — manifest, model file,
vocabulary and labels — never the model code: it imports ``export.files`` and ``export.feeds``
(which import neither torch nor zoo), onnxruntime, and torch only for ``--runtime torchscript``.
"""
