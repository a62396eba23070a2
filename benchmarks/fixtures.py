"""A weights folder with every model family: the genuine files linked in, the rest random in the official layout.

Only small genuine files exist for tests (Johnson nc16, MicroAST, realesr-animevideov3, the VGG-19 conv1_1..conv3_1
subset). AdaIN, CycleGAN, RRDB ESRGAN and the full VGG-19 are written here with random values under the keys and
shapes of our modules, which load the official files strictly. The arithmetic and memory of a network do not depend
on its values, so timings are the real ones; only the pictures are meaningless.

Random convolution weights are He-normal (std sqrt(2 / fan_in)) so activations keep their scale through deep stacks
and outputs have a real dynamic range for the precision comparison. Nothing is written into the repository.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchmarks.common import SHARED_WEIGHTS

# Genuine files linked from ../shared/weights when present (relative path inside the weights folder).
GENUINE = (
    "microast/content_encoder_iter_160000.pth.tar", "microast/style_encoder_iter_160000.pth.tar",
    "microast/modulator_iter_160000.pth.tar", "microast/decoder_iter_160000.pth.tar",
    "johnson/candy_nc16.pth", "johnson/mosaic_nc16.pth", "johnson/rain_princess_nc16.pth", "johnson/udnie_nc16.pth",
    "esrgan/realesr-animevideov3.pth", "vgg19/vgg19_first_five_conv_layers.pth",
)
CYCLEGAN_PRESETS = ("monet", "vangogh", "cezanne", "ukiyoe")


def _random_tensor(shape: list[int], dtype: str, key: str, gen):
    import torch

    if dtype == "int64":
        return torch.zeros(shape, dtype=torch.int64)
    if len(shape) == 4:
        fan_in = math.prod(shape[1:])
        return torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
    if key.endswith("running_var"):
        return torch.ones(shape)
    if key.endswith("running_mean"):
        return torch.zeros(shape)
    return torch.randn(shape, generator=gen) * 0.01


def _random_state(module, gen) -> dict:
    """Random values under ``module``'s state-dict keys and shapes (our modules load the official files strictly, so
    these are the official keys)."""
    import torch

    return {k: _random_tensor(list(v.shape), "int64" if v.dtype == torch.int64 else "float32", k, gen)
            for k, v in module.state_dict().items()}


def _adain_encoder(gen) -> dict:
    from ml_models.adain import AdaINEncoder

    return _random_state(AdaINEncoder(), gen)


def _adain_decoder(gen) -> dict:
    from ml_models.adain import AdaINDecoder

    return _random_state(AdaINDecoder(), gen)


def _cyclegan(gen) -> dict:
    from ml_models.cyclegan import ResnetGenerator

    return _random_state(ResnetGenerator(), gen)


def _x4plus(gen) -> dict:
    from ml_models.rrdbnet import RRDBNet

    return {"params_ema": _random_state(RRDBNet(), gen)}  # Real-ESRGAN's container


def _vgg19_features(gen) -> dict:
    """The converted features-only file the engine prefers (bare indices, no 500 MB classifier)."""
    from ml_models.vgg import VGG19

    return _random_state(VGG19().features, gen)


# relative path -> (builder, benchmark family that needs it)
RANDOM_FILES = {
    "adain/vgg_normalised.pth": (_adain_encoder, "adain"),
    "adain/decoder.pth": (_adain_decoder, "adain"),
    **{f"cyclegan/style_{name}.pth": (_cyclegan, "cyclegan") for name in CYCLEGAN_PRESETS},
    "esrgan/RealESRGAN_x4plus.pth": (_x4plus, "rrdb"),
    "vgg19/vgg19-features.pth": (_vgg19_features, "gatys"),
}


def build_weights_dir(target: Path, seed: int = 0, families: list[str] | None = None) -> dict[str, str]:
    """Fill ``target`` (a temporary folder) and return {relative path: "genuine" | "random"}.

    Genuine files are symlinked, never copied; random files are written only for ``families`` (all when None).
    Missing genuine files are simply absent: the cases that need them fall back to random weights themselves.
    """
    target.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    for rel in GENUINE:
        src = SHARED_WEIGHTS / rel
        if src.is_file():
            dst = target / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                dst.symlink_to(src)
            made[rel] = "genuine"
    cache: dict = {}
    gen = None
    for rel, (builder, family) in RANDOM_FILES.items():
        if families is not None and family not in families:
            continue
        import torch  # only here: linking the genuine files needs no torch (the orchestrator does that itself)

        gen = gen or torch.Generator().manual_seed(seed)
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if builder not in cache:  # the four CycleGAN presets share one random generator state (same values)
            cache[builder] = builder(gen)
        torch.save(cache[builder], dst)
        made[rel] = "random"
    return made
