"""Recurrent cells and layers written for TorchScript, exact twins of torch.nn's.

``RNN``/``LSTM``/``GRU`` and ``RNNCell``/``LSTMCell``/``GRUCell`` take the same constructor
arguments and hold the same parameters as their ``torch.nn`` namesakes; the layers add a
``lengths`` argument for ragged batches.
"""

from zoo.nn.cells import GRUCell, LSTMCell, RNNCell
from zoo.nn.recurrent import GRU, LSTM, RNN

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell"]
