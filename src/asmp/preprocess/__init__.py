"""Per-video preprocessing stages, one module per stage (paper section 3.2-3.3)."""
