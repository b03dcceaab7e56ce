"""What the Python benches (inbox.py, pull.py) share: percentiles, the run's
context (machine, commit, load) and writing a report's .json and .md."""
import json
import os
import platform
import subprocess

here = os.path.dirname(os.path.abspath(__file__))


def pct(xs, p):
    """The p-th percentile (nearest rank) of xs; None when empty."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def context(load_before):
    """The fields every report carries: machine, commit, load around the run."""
    return {
        "machine": {"nproc": os.cpu_count(), "kernel": platform.release()},
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                                 text=True, cwd=here).stdout.strip(),
        "load_before": load_before, "load_after": os.getloadavg(),
    }


def header(r):
    """The report's line about where and when it ran."""
    return (f"Machine: {r['machine']['nproc']} cores, kernel {r['machine']['kernel']}; "
            f"load {r['load_before'][0]:.2f} before, {r['load_after'][0]:.2f} after; "
            f"commit {r['commit'][:12]}.\n\n")


def write(name, result, markdown):
    """Writes bench/reports/NAME.json and NAME.md."""
    out = os.path.join(here, "reports", name)
    with open(out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    with open(out + ".md", "w") as f:
        f.write(markdown)
