"""Finished decision studies: each module's header gives its question, date, answer and the
table it produced. Run one as ``python -m studies.<name>`` from the repository root; they share
the benchmarks' data sets and baselines (``bench/``)."""
