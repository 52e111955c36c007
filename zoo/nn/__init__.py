"""Recurrent cells and layers written for TorchScript, exact twins of torch.nn's.

``RNN``/``LSTM``/``GRU`` and ``RNNCell``/``LSTMCell``/``GRUCell`` take the same constructor
arguments and hold the same parameters as their ``torch.nn`` namesakes; the layers add a
``lengths`` argument for ragged batches. ``SteppedRNNCell`` is an ``RNNCell`` with a scripted
loop over time (``over_time``), which export runs as one native node.
"""

from zoo.nn.cells import GRUCell, LSTMCell, RNNCell
from zoo.nn.recurrent import GRU, LSTM, RNN
from zoo.nn.stepped import SteppedRNNCell

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell", "SteppedRNNCell"]
