#!/usr/bin/env python3
"""A/B of two builds of ours: two `ab_worker` binaries (say, before and after a change, each
built with `cargo build --release -p mobilenet-benches --features bench --bin ab_worker` and
copied aside) driven alternately over their line protocol, in shuffled order each round.

    python3 benches/worker_ab.py OLD_WORKER NEW_WORKER [--rounds 15] [--threads 1 2]

For each thread count and model (`tiny` = 0.35-96, `v2`, `v2-int8`) it prints both medians (of
per-round medians) and new/old. A worker reads `fixtures/` from the checkout it was built in,
so keep both checkouts until the run is over. Only the ratio means anything on a shared host.
"""
import argparse
import random
import statistics
import subprocess

# Model, iterations a round: each round takes well under a second.
MODELS = (("tiny", 200), ("v2", 20), ("v2-int8", 40))


def start(path, threads):
    return subprocess.Popen([path, "--threads", str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)


def run(worker, model, n):
    worker.stdin.write(f"run {model} {n}\n")
    worker.stdin.flush()
    reply = worker.stdout.readline()
    if reply.startswith("error") or not reply:
        raise SystemExit(f"worker: {reply.strip() or 'exited'} (on run {model} {n})")
    return [float(x) for x in reply.split()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    for threads in args.threads:
        workers = {"old": start(args.old, threads), "new": start(args.new, threads)}
        for model, n in MODELS:
            for w in workers.values():
                run(w, model, n)  # warm-up
            medians = {k: [] for k in workers}
            for _ in range(args.rounds):
                order = list(workers)
                random.shuffle(order)
                for k in order:
                    medians[k].append(statistics.median(run(workers[k], model, n)))
            old, new = statistics.median(medians["old"]), statistics.median(medians["new"])
            print(f"T={threads} {model:8s} old {old:.4f} ms  new {new:.4f} ms  new/old {new / old:.3f}", flush=True)
        for w in workers.values():
            w.stdin.write("quit\n")
            w.stdin.flush()
            w.wait()


if __name__ == "__main__":
    main()
