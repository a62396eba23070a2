"""The numbers the engine and the bot are held to (printed as PASS/FAIL columns). Memory is in MiB."""

TARGETS = {
    "conv_peak_fraction": 0.50,  # conv-heavy models (AdaIN, CycleGAN, RRDB, VGG in Gatys) vs the bf16 matmul peak
    "fast_speedup": 2.0,  # fast path over the fp32 NCHW reference ...
    "fast_psnr_db": 38.0,  # ... with outputs this close
    "gatys_time_ratio": 0.25,  # fast path reaches the reference's final loss within this share of its time
    "sr_2048_peak_rss_mb": 2048.0,  # x4 upscale of a 2048 x 2048 photo, whole job (2 GiB)
    "worker_rss_mb": 1024.0,  # a worker with every model family loaded (1 GiB)
    "first_over_warm": 2.0,  # first job after start / warm job, models preloaded
    "sr_linear_tolerance": 1.3,  # seconds per megapixel at the largest size within this factor of the smallest
}
