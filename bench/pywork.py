"""Python workload for make bench: dict, list and str churn (about 2 s untracked on this
machine with Python 3.12). Deterministic: the same allocations on every run."""
import sys

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40


def words(n, seed):
    return [f"w{(i * 7919 + seed) % 5003}-{i % 17}" for i in range(n)]


def churn(seed):
    counts = {}
    for w in words(20000, seed):
        counts[w] = counts.get(w, 0) + 1
    pairs = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    joined = ",".join(k for k, _ in pairs[:2000])
    table = [[k.upper(), v, k * 2] for k, v in pairs]
    return len(joined) + len(table)


total = 0
keep = []
for r in range(ROUNDS):
    total += churn(r)
    keep.append(str(total) * 10)
print(total)
