"""``tane eval``: does a model trained on the data answer better?

The engine (this package) reads a benchmark the user supplies (:mod:`.bench`), asks one or
more models for answers (:mod:`.answer`), has a judge grade them on an absolute scale
(:mod:`.grade`) or compare two models in both orders (:mod:`.compare`), and writes the
eval directory's files (:mod:`.evaldir`). Every call goes through the directory's call
journal, so any step resumes after a kill without repeating a completed call.
The statistics and the report (:mod:`.stats`, :mod:`.report`) read those files.
"""
