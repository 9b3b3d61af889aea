def moving_average(xs, window):
    out = []
    for i in range(len(xs) - window + 1):
        out.append(sum(xs[i:i + window]) / window)
    return out
