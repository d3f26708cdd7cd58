"""goldkeeper: Git-native data versioning for golden RAG datasets."""

__version__ = "0.1.0"
