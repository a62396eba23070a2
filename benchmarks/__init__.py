"""Benchmarks of the style-transfer engine on the machine the bot actually runs on (usually a small CPU).

``python -m benchmarks`` measures every model family at several sizes, each (model, size, path) in a fresh
subprocess so that peak memory is per case, and compares the engine's fast path (bf16 autocast where the CPU has
native BF16, NHWC where the registry lists the precision, inference mode) with a plain fp32 reference, once in
separate processes (time, peak RSS) and once alternately in one process (a ratio that the host's load does not
bias: processes minutes apart on a shared machine see different loads). It also
measures achieved GFLOP/s against a matmul peak taken in the same run, Gatys convergence, super-resolution memory,
the bot's and a worker's memory, first-job latency and ``torch.compile``. Results are printed as Markdown tables
and written as JSON.

The orchestrating process never imports torch; only the case subprocesses do (see ``benchmarks.case``).
"""
