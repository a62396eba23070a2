"""A weights folder with every model family: the genuine files linked in, the rest random in the official layout.

Only small genuine files exist for tests (Johnson nc16, MicroAST, realesr-animevideov3, the VGG-19 conv1_1..conv3_1
subset). AdaIN, CycleGAN, RRDB ESRGAN and the full VGG-19 are written with random values under the keys and shapes of
our modules, which load the official files strictly: time and memory do not depend on the values, only the pictures
are meaningless. Convolution weights are He-normal so that activations keep their scale through deep stacks and
outputs have a real range for the precision comparison. Nothing is written into the repository.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import SHARED_WEIGHTS

GENUINE = (  # linked from ../shared/weights where present
    "microast/content_encoder_iter_160000.pth.tar", "microast/style_encoder_iter_160000.pth.tar",
    "microast/modulator_iter_160000.pth.tar", "microast/decoder_iter_160000.pth.tar",
    "johnson/candy_nc16.pth", "johnson/mosaic_nc16.pth", "johnson/rain_princess_nc16.pth", "johnson/udnie_nc16.pth",
    "esrgan/realesr-animevideov3.pth", "vgg19/vgg19_first_five_conv_layers.pth",
)


def random_state(module: nn.Module, gen: torch.Generator) -> dict:
    """Random values under ``module``'s state-dict keys and shapes."""
    out = {}
    for key, value in module.state_dict().items():
        if value.dtype == torch.int64 or key.endswith("running_mean"):
            out[key] = torch.zeros_like(value)
        elif key.endswith("running_var"):
            out[key] = torch.ones_like(value)
        elif value.dim() == 4:
            out[key] = torch.randn(value.shape, generator=gen) * math.sqrt(2.0 / math.prod(value.shape[1:]))
        else:
            out[key] = torch.randn(value.shape, generator=gen) * 0.01
    return out


def _random_files(gen: torch.Generator) -> dict[str, tuple[str, object]]:
    """{relative path: (benchmark family, a function giving the file's contents)}."""
    from ml_models.adain import AdaINDecoder, AdaINEncoder
    from ml_models.cyclegan import ResnetGenerator
    from ml_models.rrdbnet import RRDBNet
    from ml_models.vgg import VGG19

    cyclegan = {}  # the four presets share one random state

    def cyclegan_state() -> dict:
        return cyclegan.setdefault("state", random_state(ResnetGenerator(), gen))

    return {
        "adain/vgg_normalised.pth": ("adain", lambda: random_state(AdaINEncoder(), gen)),
        "adain/decoder.pth": ("adain", lambda: random_state(AdaINDecoder(), gen)),
        **{f"cyclegan/style_{name}.pth": ("cyclegan", cyclegan_state)
           for name in ("monet", "vangogh", "cezanne", "ukiyoe")},
        "esrgan/RealESRGAN_x4plus.pth": ("rrdb", lambda: {"params_ema": random_state(RRDBNet(), gen)}),
        "vgg19/vgg19-features.pth": ("gatys", lambda: random_state(VGG19().features, gen)),  # the converted file
    }


def build_weights_dir(target: Path, families: list[str], seed: int = 0) -> dict[str, str]:
    """Fill ``target`` (a temporary folder): genuine files symlinked, never copied, random ones written for
    ``families``. Returns {relative path: "genuine" | "random"}; a missing genuine file is simply absent."""
    made: dict[str, str] = {}
    for rel in GENUINE:
        if (SHARED_WEIGHTS / rel).is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).symlink_to(SHARED_WEIGHTS / rel)
            made[rel] = "genuine"
    for rel, (family, contents) in _random_files(torch.Generator().manual_seed(seed)).items():
        if family in families:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            torch.save(contents(), target / rel)
            made[rel] = "random"
    return made
