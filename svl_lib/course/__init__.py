"""The course around the library: notebook helpers and the executor (``python -m svl_lib.course``),
the paper's claims and the trials judged by rules, references, plots and retrieval galleries, the
machine check (``doctor``), hand-outs, badges, slides, the exercises' answer key and the room
install. Imports every layer below; nothing imports it.
"""
