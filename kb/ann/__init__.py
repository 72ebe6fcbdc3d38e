"""Vector index backends behind one small interface, chosen by a factory.

The FAISS files are derived data: they are built from the vectors stored in the database,
saved next to it, replaced atomically and rebuilt when stale.
"""

from kb.ann.base import AnnBackend, make_backend
from kb.ann.manager import VectorIndex

__all__ = ["AnnBackend", "VectorIndex", "make_backend"]
