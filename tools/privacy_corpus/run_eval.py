#!/usr/bin/env python3
"""Generates the evaluation corpus with a fixed seed and runs `hearth privacy eval` on it.

Used by the ctest `privacy_eval`; the exit status is the eval's (0: every labelled type meets its
target, 1: one misses, 2: input error), or 1 when the eval did not run to an end.

  run_eval.py --hearth build/bin/hearth --corpus build/privacy/corpus.jsonl [--seed 5]
              [--documents N] [EVAL OPTIONS...]
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import generate  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hearth", required=True, help="the hearth executable")
    parser.add_argument("--corpus", required=True, help="where to write the corpus (JSONL)")
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--documents", type=int, default=generate.DEFAULT_DOCUMENTS)
    args, eval_options = parser.parse_known_args()
    directory = os.path.dirname(os.path.abspath(args.corpus))
    os.makedirs(directory, exist_ok=True)
    status = generate.main(["--seed", str(args.seed), "--documents", str(args.documents),
                            "--output", args.corpus])
    if status != 0:
        return 1
    command = [args.hearth, "privacy", "eval", "--corpus", args.corpus] + eval_options
    print("+ " + " ".join(command), flush=True)
    result = subprocess.run(command)
    if result.returncode < 0:
        print("run_eval: hearth privacy eval died of signal %d" % -result.returncode,
              file=sys.stderr)
        return 1
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
