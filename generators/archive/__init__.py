"""Sans-I/O streaming ZIP writer: exact size first, then any byte window.

Imports nothing of the rest of the project and nothing of asyncio or sockets:
the server and the command line both build on it.
"""

from .crc import IMPLEMENTATION as CRC_IMPLEMENTATION
from .crc import crc32, crc32_file
from .layout import ArchiveLayout, Entry
from .names import UniqueNames, sanitize_path
from .objects import ObjectSlice, ObjectSource
from .sources import (
    FileSlice,
    FileSource,
    MemorySource,
    Piece,
    ProducerSizeMismatch,
    ProducerSource,
    Source,
    SourceChanged,
    read_slice,
    resolve,
)

__all__ = [
    "CRC_IMPLEMENTATION",
    "ArchiveLayout",
    "Entry",
    "FileSlice",
    "FileSource",
    "MemorySource",
    "ObjectSlice",
    "ObjectSource",
    "Piece",
    "ProducerSizeMismatch",
    "ProducerSource",
    "Source",
    "SourceChanged",
    "UniqueNames",
    "crc32",
    "crc32_file",
    "read_slice",
    "resolve",
    "sanitize_path",
]
