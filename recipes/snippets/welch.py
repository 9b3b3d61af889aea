from scipy import stats

before = [12.1, 11.8, 12.4, 12.0, 11.9]
after = [12.6, 12.9, 12.3, 12.8, 13.0]
t, p = stats.ttest_ind(before, after, equal_var=False)
print(f"t={t:.3f}, p={p:.4f}")
