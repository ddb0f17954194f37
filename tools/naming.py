"""Which catalogue mutants the suite names right in one dtype: python -m tools.naming DTYPE [MUTANT ...]

Runs the suite once per mutant (tools.kill_matrix.run_many, two at a time) and prints, for each,
what the failures and the summary named, then the counts. The kit's own tests assert this for
float32 and bfloat16 (tests/test_catalogue.py); float16, whose numpy arithmetic is slow, is
measured with this command (about 3 minutes on 2 cores) to keep the tests under their time.
"""

import sys

from attention_conformance.diagnosis import catalogue
from tools.kill_matrix import MUTANTS, OPTIONS, run_many

FLOAT64_ONLY = {"computes_in_float32"}  # computing in float32 is right in any lower-precision run


def main(dtype, names):
    names = names or [name for name in catalogue() if dtype == "float64" or name not in FLOAT64_ONLY]
    runs = run_many([f"{MUTANTS}.{name}" for name in names], f"--impl-dtype={dtype}", *OPTIONS)
    counts = {"right": 0, "wrong": 0, "none": 0}
    for name in names:
        named = runs[f"{MUTANTS}.{name}"].diagnoses()
        verdict = "right" if named == [catalogue()[name].title] else "wrong" if named else "none"
        counts[verdict] += 1
        print(f"{verdict:5}  {name}: {named}")
    print(f"{dtype}: {counts['right']} named right, {counts['wrong']} named wrong, {counts['none']} not named, "
          f"of {len(names)}")
    return 0 if counts["right"] == len(names) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
