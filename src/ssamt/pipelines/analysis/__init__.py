"""The paper's analyses (3.4 Table 3, 4.1 Table 4, 4.2 Table 5) on top of the runner and the
evaluation code: `ssamt analyze ablation | pm-accuracy | data-fraction`.

- trainings.py:   loss-switch variants, shared phase-1 runs, resumable run folders, data subsets
- pm_accuracy.py: the positive-vs-negative classifiers of Table 4
- drivers.py:     each analysis end to end, writing report.md / results.json / PNG plots
- report.py:      the paper's numbers, markdown tables, plots
"""

from ssamt.pipelines.analysis.drivers import (
    run_ablation,
    run_data_fraction,
    run_pm_accuracy,
    train_pm_models,
)
from ssamt.pipelines.analysis.pm_accuracy import (
    labeled_pair_scores,
    pairwise_accuracy,
    phrase_accuracy,
    pm_accuracy,
    sample_test_negatives,
)
from ssamt.pipelines.analysis.trainings import (
    VARIANTS,
    TrainSetup,
    subset_captions,
    subset_images,
    subset_train,
)

__all__ = [
    "VARIANTS",
    "TrainSetup",
    "labeled_pair_scores",
    "pairwise_accuracy",
    "phrase_accuracy",
    "pm_accuracy",
    "run_ablation",
    "run_data_fraction",
    "run_pm_accuracy",
    "sample_test_negatives",
    "subset_captions",
    "subset_images",
    "subset_train",
    "train_pm_models",
]
