"""``zoo export --quantize int8``: ``model.int8.onnx``, by onnxruntime's dynamic quantization.

Weights become int8 once, at export; activations are quantized on the fly per run (their
range is measured per tensor at run time), so no calibration data is needed. onnxruntime's
dynamic quantizer handles ``LSTM`` (-> ``DynamicQuantizeLSTM``), ``MatMul`` (->
``DynamicQuantizeMatMul`` / ``MatMulInteger``), ``Conv`` (-> ``ConvInteger``) and ``Gather``
(embedding tables stored as int8); it has no quantized ``GRU`` or ``RNN`` kernel, and ``Gemm``
(the classifier heads on 2-D input) stays float. ``summary`` says, per model, which operators
were quantized and which recurrent nodes stayed float, and the manifest records it.
"""

import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Tuple

import onnx

INT8_FILE = "model.int8.onnx"
QUANTIZABLE = ("LSTM", "MatMul", "Conv", "Gather")  # onnxruntime's dynamic (integer) ops


# Integer kernels the quantizer writes (DequantizeLinear: an int8 embedding table read back).
_INTEGER_PREFIXES = ("DynamicQuantize", "MatMulInteger", "ConvInteger", "DequantizeLinear")
_FLOAT_COMPUTE = ("LSTM", "GRU", "RNN", "Gemm", "MatMul", "Conv")


def _count(proto: onnx.ModelProto) -> Counter:
    return Counter(node.op_type for node in proto.graph.node)


def quantize_int8(proto: onnx.ModelProto) -> Tuple[onnx.ModelProto, Dict[str, Any]]:
    """The dynamically quantized model and a summary: its integer operators and the compute
    operators that stayed float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logger = logging.getLogger()
    level = logger.level
    with tempfile.TemporaryDirectory(prefix="zoo-int8-") as scratch:
        source, target = Path(scratch) / "model.onnx", Path(scratch) / INT8_FILE
        source.write_bytes(proto.SerializeToString())
        logger.setLevel(logging.ERROR)  # it logs a pre-processing suggestion at WARNING
        try:
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, op_types_to_quantize=list(QUANTIZABLE))
        finally:
            logger.setLevel(level)
        quantized = onnx.load_from_string(target.read_bytes())
    after = _count(quantized)
    summary = {
        "method": "onnxruntime.quantization.quantize_dynamic, int8 weights per tensor, activations quantized per run",
        "integer_ops": {op: n for op, n in sorted(after.items()) if op.startswith(_INTEGER_PREFIXES)},
        "kept_float": {op: n for op, n in sorted(after.items()) if op in _FLOAT_COMPUTE},
    }
    return quantized, summary
