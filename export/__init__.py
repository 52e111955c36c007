"""Exporters to TorchScript and ONNX, the artifact bundle and its parity verification.

Filled by the export issue; it imports `zoo` and is imported by nothing in `zoo`.
"""
