rule demo:
    """Target: the synthetic dataset end to end: generated, preprocessed into shards, the
    workflow.presets trained (the synth config's small model and short schedule), evaluated
    and reported in results/synth/report.md."""
    input:
        for_dataset("demo", "synth", rules.report.output.report),
    localrule: True
