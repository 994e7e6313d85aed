"""Pipelines: jobs composed from training and retrieval (docs/DESIGN.md section 6 layers).

    analysis/      the paper's analyses (Tables 3-5, minimal pairs): train runs, write reports
    quickstart.py  `ssamt quickstart`: synthetic data, both phases, test recall, report
    explain.py     phrase-to-image scores of one pair (paper 4.3, Figure 3)

Search (`ssamt.search`), pictures (`ssamt.render`) and photo features (`ssamt.features`)
sit on this layer too (docs/ARCHITECTURE.md); they keep their short import paths as public
APIs.
"""
