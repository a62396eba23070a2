"""Engine settings, shared by workers, the CLI and benchmarks (no torch import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_STYLES_DIR = DEFAULT_WEIGHTS_DIR / "styles"


@dataclass(frozen=True)
class EngineSettings:
    weights_dir: Path = DEFAULT_WEIGHTS_DIR
    styles_dir: Path = DEFAULT_STYLES_DIR
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16 on CPUs with native BF16, fp16 on CUDA) | fp32
    torch_threads: int = 0  # 0: leave torch's default
    max_input_pixels: int = 40_000_000  # refuse to decode more (decompression bombs)
    max_output_side: int = 8192  # upscaled results stay sendable as a Telegram document
    tile: int = 256  # SR tile size in input pixels
    allocator: str = "reuse"  # reuse (keep freed memory during a job, ml_models.allocator) | system

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> EngineSettings:
        env = dict(os.environ if env is None else env)
        weights_dir = Path(env.get("WEIGHTS_DIR") or DEFAULT_WEIGHTS_DIR).expanduser()
        styles_default = weights_dir / "styles"
        return cls(
            weights_dir=weights_dir,
            styles_dir=Path(env.get("STYLES_DIR") or styles_default).expanduser(),
            device=env.get("DEVICE", "auto") or "auto",
            precision=env.get("PRECISION", "auto") or "auto",
            torch_threads=int(env.get("TORCH_THREADS", "0") or 0),
            max_input_pixels=int(env.get("MAX_INPUT_PIXELS", "40000000") or 40_000_000),
            max_output_side=int(env.get("MAX_OUTPUT_SIDE", "8192") or 8192),
            tile=int(env.get("SR_TILE", "256") or 256),
            allocator=(env.get("ALLOCATOR", "reuse") or "reuse").strip().lower(),
        )
