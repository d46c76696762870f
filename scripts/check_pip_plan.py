"""Refuse an install plan that would replace the CPU torch or pull CUDA wheels (open_clip/timm pull an
unpinned torchvision, whose newest release requires a newer, CUDA, torch). Run by `make install`."""

import json
import subprocess
import sys
import tempfile

with tempfile.NamedTemporaryFile(suffix=".json") as report:
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "-q", "--report", report.name, *sys.argv[1:]]
    subprocess.run(cmd, check=True)
    with open(report.name) as fh:
        plan = json.load(fh)["install"]
names = [(p["metadata"]["name"].lower(), p["metadata"]["version"]) for p in plan]
bad = [f"{n}=={v}" for n, v in names if n == "torch" or n.startswith(("nvidia-", "cuda-", "triton"))]
if bad:
    sys.exit(f"refusing install: pip would bring {', '.join(bad)} (CUDA torch); install with -c constraints.txt")
print(f"pip plan ok: {len(plan)} packages, torch untouched, no CUDA wheels")
