"""Who is who: face embeddings (dlib), surrogate identity keys, re-identification and the keep-list."""

from anonfilter.identity.embedder import SAME_PERSON_DISTANCE, FaceEmbedder, distance
from anonfilter.identity.gallery import Gallery
from anonfilter.identity.keeplist import KeepChecks, KeepList
from anonfilter.identity.keys import IdentityKeys
from anonfilter.identity.registry import FaceSample, Identities

__all__ = [
    "FaceEmbedder",
    "FaceSample",
    "Gallery",
    "Identities",
    "IdentityKeys",
    "KeepChecks",
    "KeepList",
    "SAME_PERSON_DISTANCE",
    "distance",
]
