"""The Python API: what ``tane.run``, ``tane.load``, ``tane.curate``, ``tane.dedup`` and
``tane.export`` are (``src/tane/__init__.py`` exposes them by name; docs/python.md).

- :mod:`tane.api.run`: a recipe into a run directory, with a progress callback, from
  plain code, a notebook (an event loop already running) or async code;
- :mod:`tane.api.load`: a run directory's kept and dropped records, as lists or a
  ``datasets.Dataset``;
- :mod:`tane.api.data`: curate, dedup and export over files or lists of dicts.

The command line is a layer over the same functions. Every user error raises a
:class:`tane.errors.TaneError` (``.message``, ``.path``, ``.line``, ``.field``); nothing
here prints or exits.
"""
