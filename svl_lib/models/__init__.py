"""Image-text models. Each returns L2-normalised features and a logit scale (see ``base``)."""
from .base import ContrastiveModel
from .toy import ToyCLIP
from .vocab import Vocabulary, tokenize

__all__ = ["ContrastiveModel", "ToyCLIP", "Vocabulary", "tokenize"]
