"""Exports of a run directory: training formats, dataset card, licences."""
