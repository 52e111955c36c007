"""Loading and serving exported bundles (HTTP server, runtime loaders, C++/Node/Triton).

Reads a bundle's manifest only, so a server needs no model code.
"""
