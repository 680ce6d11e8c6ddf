"""Sequence-model workloads (issue 14) in the harness: the LSTM and Transformer steps of
:mod:`bench.seq_lstm` and :mod:`bench.seq_transformer`, timed like every other workload."""
from __future__ import annotations

from . import seq_lstm, seq_transformer
from ._harness import Impl, Workload, register

LIBS = ("tapegrad", "torch")

register(Workload(
    "lstm_step", f"nn.LSTM({seq_lstm.INPUT}, {seq_lstm.HIDDEN}, {seq_lstm.LAYERS}), seq {seq_lstm.SEQ}, "
    f"batch {seq_lstm.BATCH}: forward + backward",
    {lib: Impl(lambda lib=lib: seq_lstm._setup(lib), seq_lstm._step) for lib in LIBS},
    target=1.5, max_rounds=15, max_seconds=20.0))

register(Workload(
    "transformer_layer_step", f"TransformerEncoderLayer(d_model {seq_transformer.D_MODEL}, "
    f"{seq_transformer.HEADS} heads, ff {seq_transformer.FF}), seq {seq_transformer.SEQ}, "
    f"batch {seq_transformer.BATCH}: forward + backward",
    {lib: Impl(lambda lib=lib: seq_transformer._setup(lib, False), seq_transformer._step) for lib in LIBS},
    target=1.2, max_rounds=15, max_seconds=20.0))
