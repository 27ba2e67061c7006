"""tuplet: personal, responsible multitrack music generation.

Importing the package is cheap: heavy parts (torch, symusic, music21, matplotlib) load only
when the functions that need them are called.
"""

from tuplet.errors import BadFileError, MissingExtraError, TupletError, UsageError
from tuplet.notes import Notes

__version__ = "0.1.0"
__all__ = ["BadFileError", "MissingExtraError", "Notes", "TupletError", "UsageError", "__version__"]
