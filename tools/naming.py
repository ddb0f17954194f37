"""Which catalogue mutants the suite names right in one dtype: python -m tools.naming DTYPE [MUTANT ...]

Runs the reference and each mutant in that dtype as the kit's own tests do (tools.kill_matrix.runs_in:
the whole suite on the reference, the checks that can fail on each mutant), and prints, for each
mutant, what the failures and the summary named, then the counts. tests/test_catalogue.py asserts
the same in every dtype; this command shows it for one dtype, or a few mutants, without the rest.
"""

import sys

from attention_conformance.diagnosis import catalogue
from tools.kill_matrix import FLOAT64_ONLY, MUTANTS, REFERENCE, reference_passes, runs_in


def main(dtype, names):
    names = names or [name for name in catalogue() if dtype == "float64" or name not in FLOAT64_ONLY]
    runs = runs_in(dtype, names)
    if not reference_passes(runs[REFERENCE]):
        print(f"the reference fails in {dtype}: the mutants ran the whole suite\n{runs[REFERENCE].output[-3000:]}")
    counts = {"right": 0, "wrong": 0, "none": 0}
    for name in names:
        named = runs[f"{MUTANTS}.{name}"].diagnoses()
        verdict = "right" if named == [catalogue()[name].title] else "wrong" if named else "none"
        counts[verdict] += 1
        print(f"{verdict:5}  {name}: {named}")
    print(f"{dtype}: {counts['right']} named right, {counts['wrong']} named wrong, {counts['none']} not named, "
          f"of {len(names)}")
    return 0 if counts["right"] == len(names) and reference_passes(runs[REFERENCE]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
