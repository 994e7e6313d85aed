"""ssamt.model: embeddings, masks, encoders and scores of SSAMT (paper 2.2-2.3, Eq. 5)."""

from ssamt.model.config import ModelConfig
from ssamt.model.scores import InterOutput
from ssamt.model.ssamt import SSAMT

__all__ = ["SSAMT", "InterOutput", "ModelConfig"]
