"""Worked examples, each runnable as ``python -m tapegrad.examples.<name>``.

* ``seq``: a small Transformer encoder and an LSTM learn to add two numbers written as digits
  (``make seq``).

The examples are written against PyTorch's API: each imports ``tapegrad as torch`` on one line,
and with ``import torch`` there instead it runs unchanged on PyTorch.
"""

#: example name -> one-line description (``python -m tapegrad.examples`` lists them)
EXAMPLES = {
    "seq": "a Transformer encoder and an LSTM learn to add two 5-digit numbers",
}
