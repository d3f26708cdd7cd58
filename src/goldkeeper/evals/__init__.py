"""Evaluation: retrieval metrics (trec_eval definitions), TREC files, retrieval runs, comparisons."""
