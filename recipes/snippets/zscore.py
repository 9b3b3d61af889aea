import numpy as np


def zscore(values):
    arr = np.asarray(values, dtype=float)
    return (arr - arr.mean()) / arr.std(ddof=1)
