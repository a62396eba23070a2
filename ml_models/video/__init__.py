"""Moving pictures: GIFs, videos and video notes stylised frame by frame and steadied by optical flow.

Only ``api`` and ``errors`` are light (no torch, numpy, PyAV or OpenCV): the bot process may import them to build a
``VideoRequest`` and read a ``VideoError``. Everything else runs in workers, the CLI and benchmarks.
"""
