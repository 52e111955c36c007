"""Model outputs -> what the task needs: labels with probabilities, next-token distributions,
forecasts, decoded text; and tensors as JSON for explicit requests."""

from typing import Any, Dict, List, Optional

import numpy as np

from serve.inputs import Tokenizer

TOP = 5  # labels / tokens listed per result


def tensor_json(array: np.ndarray) -> Dict[str, Any]:
    return {"shape": list(array.shape), "dtype": str(array.dtype), "data": array.reshape(-1).tolist()}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _label(labels: Optional[List[str]], index: int) -> str:
    return labels[index] if labels and index < len(labels) else str(index)


def _ranked(probabilities: np.ndarray, names: List[str]) -> List[Dict[str, Any]]:
    order = np.argsort(-probabilities, kind="stable")[:TOP]
    return [{"label": names[i], "probability": float(probabilities[i])} for i in order]


def task_result(task: str, outputs: Dict[str, np.ndarray], output_names: List[str], labels: Optional[List[str]],
                tokenizer: Tokenizer) -> Dict[str, Any]:  # fmt: skip
    """One instance's reply; ``outputs`` are that row's arrays (no batch axis)."""
    main = outputs[output_names[0]]
    if task == "classification":
        probabilities = _softmax(main)
        names = [_label(labels, i) for i in range(len(probabilities))]
        best = int(np.argmax(probabilities))
        return {"label": names[best], "probability": float(probabilities[best]), "top": _ranked(probabilities, names)}
    if task == "binary-classification":
        value = float(main.reshape(-1)[0])
        probability = value if output_names[0] == "probability" else float(1 / (1 + np.exp(-value)))
        return {"label": _label(labels, int(probability >= 0.5)), "probability": probability}
    if task == "language-model":
        probabilities = _softmax(main[-1])  # after the last step
        names = tokenizer.tokens if len(tokenizer.tokens) == len(probabilities) else [str(i) for i in range(len(probabilities))]
        return {"next": [{"token": r["label"], "probability": r["probability"]} for r in _ranked(probabilities, names)]}
    if task == "tagging":
        ids = main.argmax(axis=-1).tolist()
        return {"tokens": ids, "text": tokenizer.decode(ids) if tokenizer.ready else None}
    if task == "forecasting":
        steps = main.reshape(main.shape[0], -1)[:, 0]
        return {"forecast": float(steps[-1]), "predictions": steps.tolist()}
    if task == "regression":
        return {"prediction": main.reshape(-1).tolist()}
    return {name: tensor_json(outputs[name]) for name in output_names}  # encoders: the tensors


def decoded_result(tokens: np.ndarray, tokenizer: Tokenizer) -> Dict[str, Any]:
    ids = [int(t) for t in tokens]
    return {"tokens": ids, "text": tokenizer.decode(ids) if tokenizer.ready else None}
