"""scikit-learn estimators around the foundation models."""

from .classifier import FoundationClassifier
from .regressor import FoundationRegressor
from .transformer import FoundationTransformer

__all__ = ["FoundationClassifier", "FoundationRegressor", "FoundationTransformer"]
