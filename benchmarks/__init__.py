"""Benchmarks of the engine on the machine the bot runs on (usually a small CPU).

``python -m benchmarks`` times each model family's fast path against a plain fp32 NCHW reference on the same weights,
both alternately in one process per case, with FLOPs, PSNR and peak memory; Gatys' time to the reference's loss;
whole upscale jobs; a worker's memory. ``python -m benchmarks.load_test`` runs many users through the bot.
"""
