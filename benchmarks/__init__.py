"""Benchmarks of the style-transfer engine on the machine the bot runs on (usually a small CPU).

``python -m benchmarks`` times every model family at several sizes, each (model, size, path) in a fresh subprocess
so that peak memory is per case, comparing the engine's fast path (its precision, NHWC, inference mode) with a plain
fp32 NCHW reference, also alternately in one process (a ratio the host's load does not bias). It also measures
GFLOP/s against a matmul peak taken in the same run, Gatys' time to the reference loss, super-resolution memory, the
bot's and a worker's memory and first-job latency, and prints Markdown tables and JSON. The orchestrating process
never imports torch; only the case subprocesses do (``benchmarks.case``).
"""
