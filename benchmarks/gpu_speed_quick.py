"""Quick GPU timing of ``predict`` on test0 tiled 1, 4^3 and 7^3 times (SymGNN, a second network,
the default ensemble), with peak GPU memory, host RSS and the tiled-vs-test0 difference.

    python3 benchmarks/gpu_speed_quick.py [SECOND_MODEL.pt] [test0.pickle]

Results of the run on a lent H200: benchmarks/results/gpu_speed.md.
"""
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mgbarrier  # noqa: E402
from mgbarrier.io.symgnn_pickle import read_symgnn_pickle  # noqa: E402


def main() -> None:
    second = sys.argv[1] if len(sys.argv) > 1 else "runs/equivariant_gpu.pt"
    a = read_symgnn_pickle(sys.argv[2] if len(sys.argv) > 2 else ".devdata/test0.pickle")
    print(torch.cuda.get_device_name(0), flush=True)
    for name, sizes in (("cu64zr36-symgnn", (1, 4, 7)), (second, (1, 4, 7)), ("cu64zr36-ensemble", (1, 2))):
        m = mgbarrier.load_model(name, device="cuda")
        ref = m.predict(a)
        for n in sizes:
            big = a.repeat((n, n, n))
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
            t = time.perf_counter()
            y = m.predict(big)
            torch.cuda.synchronize()
            dt = time.perf_counter() - t
            dev = float(np.abs(y.reshape(n ** 3, -1) - ref[None]).max())
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
            print(f"{name} {len(big):>9,} atoms {dt:7.2f} s  gpu peak {torch.cuda.max_memory_allocated() / 2 ** 30:6.2f} "
                  f"GiB  host rss {rss:5.2f} GiB  max|tiled-test0| {dev:.1e} eV", flush=True)


if __name__ == "__main__":
    main()
