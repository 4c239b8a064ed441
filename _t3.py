import torch, tempfile
from pathlib import Path
from tests import fault_plugins
from tests.execute_helpers import tiny_grid
from bench.execute import finish_run
with fault_plugins.registered():
    g = tiny_grid(["fault_oom"], epochs=1, study="oom", oom_backoff=True)
    res = Path(tempfile.mkdtemp())
    r = finish_run(g.specs[0], res, torch.device("cpu"))
    print(r["status"], r["error"])
    print(open(next((res/"oom").glob("*.log"))).read()[-1500:])
