"""Make brownie 1.22.2 use its pure-Python test modules instead of the mypyc-compiled ones.

The eth-brownie 1.22.2 wheel is a mypyc build whose compiled `brownie.test.stateful`,
`brownie.test.coverage` and `brownie.test.output` crash (`state_machine`, `--coverage`, the
coverage/gas report). The wheel also ships the `.py` sources; moving the compiled `.so` files aside
makes Python import those. Idempotent: a second run finds nothing to move.
"""

import importlib.util
import sys
from pathlib import Path

BROKEN_MODULES = ("stateful", "coverage", "output")


def main() -> int:
    spec = importlib.util.find_spec("brownie")
    if spec is None or spec.origin is None:
        print("patch_brownie: brownie is not installed in this interpreter", file=sys.stderr)
        return 1
    test_dir = Path(spec.origin).parent / "test"
    moved = 0
    for name in BROKEN_MODULES:
        if not (test_dir / f"{name}.py").exists():
            print(f"patch_brownie: {name}.py is missing; cannot fall back", file=sys.stderr)
            return 1
        for compiled in test_dir.glob(f"{name}.cpython-*.so"):
            compiled.rename(compiled.with_name(compiled.name + ".disabled"))
            moved += 1
    print(f"patch_brownie: {moved} compiled module(s) moved aside in {test_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
