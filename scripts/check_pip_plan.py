"""Refuse an install plan that would replace the CPU torch or pull CUDA wheels (open_clip/timm pull an
unpinned torchvision, whose newest release requires a newer, CUDA, torch). Run by `make install`."""

import json
import subprocess
import sys
import tempfile

args = sys.argv[1:]
with tempfile.NamedTemporaryFile(suffix=".json") as report:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "-q", "--report", report.name, *args], check=True
    )
    plan = json.load(open(report.name))["install"]
bad = [
    f"{p['metadata']['name']}=={p['metadata']['version']}"
    for p in plan
    if p["metadata"]["name"].lower() == "torch" or p["metadata"]["name"].lower().startswith(("nvidia-", "cuda-", "triton"))
]
if bad:
    sys.exit(f"refusing install: pip would bring {', '.join(bad)} (CUDA torch); install with -c constraints.txt")
print(f"pip plan ok: {len(plan)} packages, torch untouched, no CUDA wheels")
