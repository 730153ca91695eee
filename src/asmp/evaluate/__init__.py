"""Evaluation: metrics, the BSS-Eval v3 source-separation scores (SDR, SIR, SAR) with an
exact vectorised float64 solver checked against mir_eval (:mod:`asmp.evaluate.metrics`),
and ``asmp score``, which prints them for WAV files (:mod:`asmp.evaluate.score`); see
docs/evaluation.md. Submodules are imported on use, so importing this package is cheap.
"""
