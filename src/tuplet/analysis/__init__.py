"""Analysis: metrics, comparison, evaluation, continuations, whole pieces, attention."""
