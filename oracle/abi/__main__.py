import sys
from pathlib import Path

from oracle.abi import refresh

if sys.argv[1:2] == ["--refresh"]:
    refresh(Path(sys.argv[2] if len(sys.argv) > 2 else "build/contracts"))
else:
    print("usage: python -m oracle.abi --refresh [build/contracts]")
