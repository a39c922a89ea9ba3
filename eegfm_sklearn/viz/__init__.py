"""Figures of estimators, benchmarks and embeddings (matplotlib, imported on first plot).

Every function returns a :class:`matplotlib.figure.Figure` (drawn on ``ax``
when given) and never calls ``plt.show()``.
"""

from .channels import STATUS_COLORS, plot_channel_report
from .embedding import plot_embedding_2d, project_2d
from .filters import filter_response, plot_filter_response
from .scores import RESULT_COLUMNS, plot_subject_scores, subject_means
from .training import plot_training_curves

__all__ = [
    "RESULT_COLUMNS",
    "STATUS_COLORS",
    "filter_response",
    "plot_channel_report",
    "plot_embedding_2d",
    "plot_filter_response",
    "plot_subject_scores",
    "plot_training_curves",
    "project_2d",
    "subject_means",
]
