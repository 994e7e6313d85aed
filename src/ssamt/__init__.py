"""SSAMT: Semantic Structure Aware Multimodal Transformer for image-text retrieval.

Paper: "Constructing Phrase-level Semantic Labels to Form Multi-Grained Supervision
for Image-Text Retrieval" (Fan et al.).
"""

__version__ = "0.1.0"
