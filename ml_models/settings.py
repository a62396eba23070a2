"""Engine settings, shared by workers, the CLI and benchmarks (no torch import), read through ``environment.Env``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from environment import Env

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_STYLES_DIR = DEFAULT_WEIGHTS_DIR / "styles"
DEVICES = ("auto", "cpu", "cuda", *(f"cuda:{i}" for i in range(16)))


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
    def from_env(cls, env: Env | Mapping[str, str] | None = None) -> EngineSettings:
        """Read and check the engine's variables (see .env.example); raise ``EnvError`` naming a bad one."""
        env = Env.of(env)
        weights_dir = env.path("WEIGHTS_DIR", DEFAULT_WEIGHTS_DIR)
        return cls(
            weights_dir=weights_dir,
            styles_dir=env.path("STYLES_DIR", weights_dir / "styles"),
            device=env.choice("DEVICE", "auto", DEVICES),
            precision=env.choice("PRECISION", "auto", ("auto", "fp32")),
            torch_threads=env.integer("TORCH_THREADS", 0, 0, 1024),
            max_input_pixels=env.integer("MAX_INPUT_PIXELS", 40_000_000, 10_000, 1_000_000_000),
            max_output_side=env.integer("MAX_OUTPUT_SIDE", 8192, 64, 65_536),
            tile=env.integer("SR_TILE", 256, 32, 4096),
            allocator=env.choice("ALLOCATOR", "reuse", ("reuse", "system")),
        )
