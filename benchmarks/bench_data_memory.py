"""Peak memory of one epoch of ImageTable batches does not grow with the features file, and
the rate the reader sustains against the machine's copy bandwidth.

Writes precomp files of --images and --compare images (default 50,000 and 5,000 images of
36 x 2048 float16: 7.4 GB and 0.74 GB, written in chunks, never whole in memory), then, in
a fresh process per file, opens the split and reads one shuffled epoch of token-budget
batches through ImageTable, and reports the process's peak RSS. With --via-mmap it also
measures the naive alternative (fancy-indexing the memmap), whose resident mapped pages
grow with the file. The big files are deleted at the end (unless --keep).

    python benchmarks/bench_data_memory.py --via-mmap                       # full run
    python benchmarks/bench_data_memory.py --images 2000 --compare 200      # quick check
    python benchmarks/bench_data_memory.py --images 113287 --compare 0      # COCO train size

Each epoch reports images/s and MB/s of features delivered as float32 batches, the resident
memory at each quarter of the epoch (flat when nothing accumulates), and, once per run,
the machine's own rates for the same bytes: a plain memory copy, the float16 -> float32
conversion, and a sequential read of the file (from the page cache when it fits there).

Not part of the test suite; never imported by the package.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 500  # images written at once (500 x 36 x 2048 x 2 bytes = 74 MB)


def write_split(folder: Path, n: int, regions: int, dim: int, dtype: str) -> float:
    """A `test` split of n images, written chunk by chunk; returns seconds taken."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    dt = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False,
              "shape": (n, regions, dim)}
    chunk = np.random.default_rng(0).standard_normal((CHUNK, regions, dim),
                                                     dtype=np.float32).astype(dt)
    with open(folder / "test_ims.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, n, CHUNK):
            b = min(CHUNK, n - start)
            chunk[:, 0, 0] = start // CHUNK % 1000  # chunks differ, cheaply (finite in float16)
            f.write(chunk[:b].tobytes())
    with open(folder / "test_caps.txt", "w") as f:
        f.writelines(f"a photo of scene number {i // 5} view {i % 5}\n" for i in range(n * 5))
    return time.time() - t0


def rss_mb() -> float:
    """The process's resident memory now, MB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def machine_rates(path: Path, mb: int = 1024) -> dict:
    """GB/s of a memory copy, of float16 -> float32 (both counted in float16 bytes, as the
    file holds them) and of a sequential read of `path`, each over up to `mb` MB (the best
    of 3: the machine's ceiling, not its noise)."""
    src = np.ones(mb * 2**20 // 2, dtype=np.float16)
    dst16, dst32 = np.empty_like(src), np.empty(src.shape, np.float32)
    buf = bytearray(16 * 2**20)

    def best(fn) -> float:
        rates = []
        for _ in range(3):
            t0 = time.perf_counter()
            nbytes = fn()
            rates.append(nbytes / 1e9 / (time.perf_counter() - t0))
        return max(rates)

    def read() -> int:
        total = 0
        with open(path, "rb", buffering=0) as f:
            while total < src.nbytes and (n := f.readinto(buf)) > 0:
                total += n
        return total

    def copy(out: np.ndarray) -> int:
        np.copyto(out, src)
        return src.nbytes

    return {"copy_gb_s": best(lambda: copy(dst16)),
            "fp16_to_fp32_gb_s": best(lambda: copy(dst32)),
            "file_read_gb_s": best(read)}


def measure(folder: Path, budget: int, via_mmap: bool) -> dict:
    """One shuffled epoch over the split; runs in its own process (see main)."""
    import torch

    from ssamt.data.batching import TokenBudgetSampler
    from ssamt.data.precomp import open_split
    from ssamt.data.tables import ImageTable

    torch.set_num_threads(1)
    t0 = time.time()
    split = open_split(folder, "test")
    table = ImageTable(split)
    sampler = TokenBudgetSampler(table.costs(), budget, shuffle=True, seed=0)
    quarters = {max(1, round(len(sampler) * q / 4)) for q in (1, 2, 3, 4)}
    rss_at = [rss_mb()]
    n_batches = n_images = 0
    checksum = 0.0
    for batch in sampler:
        if via_mmap:  # the naive way: index the memmap directly
            regions = torch.from_numpy(split.images[np.asarray(batch)].astype(np.float32))
        else:
            regions = table.batch(batch).regions
        checksum += float(regions[:, 0, 0].sum())
        n_batches += 1
        n_images += len(batch)
        if n_batches in quarters:
            rss_at.append(rss_mb())
    seconds = time.time() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    size = split.images_path.stat().st_size
    return {"images": n_images, "batches": n_batches, "file_gb": size / 1e9,
            "seconds": seconds, "images_per_s": n_images / seconds,
            "read_mb_per_s": size / 1e6 / seconds, "peak_rss_mb": peak_kb / 1024,
            "rss_quarters_mb": rss_at, "via_mmap": via_mmap}


def run_child(folder: Path, budget: int, via_mmap: bool) -> dict:
    cmd = [sys.executable, __file__, "--measure", str(folder), "--budget", str(budget)]
    if via_mmap:
        cmd.append("--via-mmap")
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--compare", type=int, default=5_000,
                        help="a smaller file to compare with (0: none)")
    parser.add_argument("--regions", type=int, default=36)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--budget", type=int, default=8192,
                        help="instances per batch (paper phase 2: 8,192)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write the files (default: a new temporary folder)")
    parser.add_argument("--via-mmap", action="store_true",
                        help="also measure indexing the memmap directly")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.budget, args.via_mmap)))
        return
    if args.dir is None:
        args.dir = Path(tempfile.mkdtemp(prefix="ssamt-bench-data-"))
    try:
        for n in [n for n in (args.compare, args.images) if n > 0]:
            folder = args.dir / f"n{n}"
            secs = write_split(folder, n, args.regions, args.dim, args.dtype)
            print(f"wrote {n:,} images ({args.regions} x {args.dim} {args.dtype}) in {secs:.1f}s",
                  flush=True)
            for via in ((False, True) if args.via_mmap else (False,)):
                r = run_child(folder, args.budget, via)
                how = "memmap indexing" if via else "ImageTable (pread)"
                print(f"  {how:<20} {r['images']:>7,} images {r['batches']:>5,} batches "
                      f"file {r['file_gb']:.2f} GB  {r['seconds']:.1f}s "
                      f"({r['images_per_s']:,.0f} images/s, {r['read_mb_per_s']:.0f} MB/s)  "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB; RSS at start and each quarter "
                      + " / ".join(f"{m:.0f}" for m in r["rss_quarters_mb"]) + " MB",
                      flush=True)
            rates = machine_rates(folder / "test_ims.npy")
            print("  this machine: memory copy {copy_gb_s:.2f} GB/s, float16 -> float32 "
                  "{fp16_to_fp32_gb_s:.2f} GB/s, sequential read of the file "
                  "{file_read_gb_s:.2f} GB/s".format(**rates), flush=True)
            if not args.keep:
                shutil.rmtree(folder)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
