"""Deskbook knowledge base: the store, embeddings, search and suggested answers.

`kb` is the bottom layer: it imports none of `indexer`, `qa_rubrics` or `webapp`.
"""

__version__ = "0.1.0"
