"""Sentiment: scorers (FinBERT, lexicon fallback) and the pipeline from documents to scores."""
