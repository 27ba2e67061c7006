"""Corpora: from folders and bundled collections to a prepared, provenanced dataset folder.

* :func:`prepare` (in :mod:`tuplet.corpus.prepare`) finds the files
  (:mod:`tuplet.corpus.discover`), reads them safely in
  parallel (:mod:`tuplet.corpus.workers`), encodes, de-duplicates and splits them, and writes
  the dataset folder (:mod:`tuplet.corpus.store`) with provenance
  (:mod:`tuplet.responsibility.provenance`);
* :func:`inspect` and :func:`format_inspect` (in :mod:`tuplet.corpus.summary`) summarise one.

Importing this package is cheap: readers and encoders load inside the functions that use them.
"""

from tuplet.corpus.discover import MUSIC21_PREFIX, InputFile, discover
from tuplet.corpus.prepare import DEFAULT_FILTERS, SPLITS, PrepareReport, SplitRule, prepare
from tuplet.corpus.summary import format_inspect, inspect
from tuplet.corpus.workers import Filters, codes_hash, read_file

__all__ = [
    "DEFAULT_FILTERS",
    "MUSIC21_PREFIX",
    "SPLITS",
    "Filters",
    "InputFile",
    "PrepareReport",
    "SplitRule",
    "codes_hash",
    "discover",
    "format_inspect",
    "inspect",
    "prepare",
    "read_file",
]
