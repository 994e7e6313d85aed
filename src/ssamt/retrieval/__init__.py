"""ssamt.retrieval: encode once, two-stage ranking, recall metrics, evaluation protocols.

    from ssamt.retrieval import evaluate_model, format_results
    result = evaluate_model(model, vocab, split, graphs, protocol="f30k", k=128, mu1=0.3, mu2=0.1,
                            max_tokens=64)
    print(format_results(result))
"""

from ssamt.retrieval.encode import encode_gallery, encode_images, encode_texts
from ssamt.retrieval.evaluate import evaluate_model, evaluate_tables, format_results, format_table
from ssamt.retrieval.metrics import (
    METRIC_KEYS,
    recall_from_scores,
    recall_from_similarity,
    recall_i2t,
    recall_t2i,
)
from ssamt.retrieval.protocols import PROTOCOLS, Fold, make_folds, run_protocol
from ssamt.retrieval.rerank import TwoStageScores, two_stage

__all__ = [
    "METRIC_KEYS",
    "PROTOCOLS",
    "Fold",
    "TwoStageScores",
    "encode_gallery",
    "encode_images",
    "encode_texts",
    "evaluate_model",
    "evaluate_tables",
    "format_results",
    "format_table",
    "make_folds",
    "recall_from_scores",
    "recall_from_similarity",
    "recall_i2t",
    "recall_t2i",
    "run_protocol",
    "two_stage",
]
