"""Who is who: face embeddings (dlib), surrogate identity keys, re-identification and the keep-list."""

from anonfilter.identity.embedder import SAME_PERSON_DISTANCE, FaceEmbedder, distance
from anonfilter.identity.gallery import Gallery
from anonfilter.identity.keeplist import KeepList
from anonfilter.identity.keys import IdentityKeys

__all__ = ["FaceEmbedder", "Gallery", "IdentityKeys", "KeepList", "SAME_PERSON_DISTANCE", "distance"]
