"""One description of every model, preset, option and weight file.

The bot builds its menus from it, the CLI lists and downloads from it, and the engine runs a model through the family
object that ``FAMILIES`` names for ``ModelSpec.family``. It imports without torch on purpose: the bot process must
never load the engine, so families are named by dotted path, not imported.

Each model and preset lists the weight files it can use in order of preference (``alternatives``); the first
alternative whose files are all present in ``WEIGHTS_DIR`` is the one used. The relative paths of the small genuine
files match their layout in the test weights folder, so ``WEIGHTS_DIR=../shared/weights`` works as is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadRequest, WeightsMissing

# --------------------------------------------------------------------------------------------------- weight files


@dataclass(frozen=True)
class WeightFile:
    path: str  # relative to WEIGHTS_DIR
    url: str | None  # None: cannot be fetched automatically (place the file by hand)
    sha256: str | None  # None: upstream publishes no checksum (size is checked approximately)
    size: int | None
    source: str
    licence: str
    archive: str | None = None  # fetched as a member of this archive (another manifest path)
    member: str | None = None  # the member's name inside the archive
    derived_from: str | None = None  # produced by converting this (downloaded, verified) file
    approx_size: bool = False  # size is an estimate from the parameter count
    kind: str = "weights"  # weights | archive | style_image


_GH = "https://github.com"
_RAW = "https://raw.githubusercontent.com"
_REALESRGAN = f"{_GH}/xinntao/Real-ESRGAN/releases/download"
_JOHNSON_NC16 = (f"{_GH}/gnsmrky/pytorch-fast-neural-style-for-web/raw/"
                 "e1c4caf394cc128a8215a9148ddc934d489b7864/saved_models_nc16")
_MICROAST = f"{_GH}/EndyWon/MicroAST/raw/5a6c9050d8c408191cb9db12c697f3e4c7ebe137/models"
_CYCLEGAN = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models"
_BSD3 = "BSD-3-Clause"


def _files(*items: WeightFile) -> dict[str, WeightFile]:
    return {f.path: f for f in items}


MANIFEST: dict[str, WeightFile] = _files(
    # VGG-19 for Gatys: the official torchvision file is converted to a features-only file on download.
    WeightFile("vgg19/vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
               "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", 574673361,
               "torchvision model zoo", "BSD-3-Clause (code), CC BY 4.0 (Oxford VGG weights)", kind="archive"),
    WeightFile("vgg19/vgg19-features.pth", None, None, None, "converted from vgg19/vgg19-dcbb9e9d.pth",
               "CC BY 4.0 (Oxford VGG weights)", derived_from="vgg19/vgg19-dcbb9e9d.pth"),
    WeightFile("vgg19/vgg19_first_five_conv_layers.pth",
               f"{_GH}/houlden/style_transfer_telegram_bot/raw/afc4bc3dd2052d5852090c446f44b979d7170b54/"
               "ml_models/nst_gatys/pretrained_models/vgg19_first_five_conv_layers.pth",
               "e84c182a9d269d694882e527a2fd67658f6f96b866a504b9baefd08f43a26638", 2224199,
               "houlden/style_transfer_telegram_bot (torchvision vgg19 features[:11])",
               "CC BY 4.0 (Oxford VGG weights)"),
    # AdaIN (naoto0804/pytorch-AdaIN release v0.0.0; no checksums published).
    WeightFile("adain/vgg_normalised.pth", f"{_GH}/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/vgg_normalised.pth",
               None, 80097584, "naoto0804/pytorch-AdaIN", "MIT", approx_size=True),
    WeightFile("adain/decoder.pth", f"{_GH}/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/decoder.pth",
               None, 14020876, "naoto0804/pytorch-AdaIN", "MIT", approx_size=True),
    # MicroAST: the authors' release committed in their repository.
    WeightFile("microast/content_encoder_iter_160000.pth.tar", f"{_MICROAST}/content_encoder_iter_160000.pth.tar",
               "c8d895c0eec52507c157e102fab217c37f0c399ef3e168ef8b0b2677714660a4", 634983, "EndyWon/MicroAST", "MIT"),
    WeightFile("microast/style_encoder_iter_160000.pth.tar", f"{_MICROAST}/style_encoder_iter_160000.pth.tar",
               "94f6b3fa386828692c20809a0af8bd0eba9c04e90a7d8842086976e4d223c5af", 634983, "EndyWon/MicroAST", "MIT"),
    WeightFile("microast/modulator_iter_160000.pth.tar", f"{_MICROAST}/modulator_iter_160000.pth.tar",
               "8588055baf7d5ad8398d595d5518c6f030e3ff8dbb6007a7c1779776e11da28b", 12158, "EndyWon/MicroAST", "MIT"),
    WeightFile("microast/decoder_iter_160000.pth.tar", f"{_MICROAST}/decoder_iter_160000.pth.tar",
               "32e04a46b953fd9f94ec9e20f351511305a5260e000c18f9aef6570d5f1e23d9", 619135, "EndyWon/MicroAST", "MIT"),
    # Johnson: the official 32-channel models come in one zip; the 16-channel retrains are single files.
    WeightFile("johnson/saved_models.zip", "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1",
               None, None, "pytorch/examples fast_neural_style", _BSD3, kind="archive"),
    *(WeightFile(f"johnson/{name}.pth", None, None, 6716940, "pytorch/examples fast_neural_style", _BSD3,
                 archive="johnson/saved_models.zip", member=f"saved_models/{name}.pth", approx_size=True)
      for name in ("candy", "mosaic", "rain_princess", "udnie")),
    WeightFile("johnson/candy_nc16.pth", f"{_JOHNSON_NC16}/candy_nc16_b1_e2_1e05_1e10.model",
               "be90a4f8f76fc29de9cc8d3a4f7ce18d5be1ba099a44c3bf49ab397ac4668d51", 1710688,
               "gnsmrky/pytorch-fast-neural-style-for-web", _BSD3),
    WeightFile("johnson/mosaic_nc16.pth", f"{_JOHNSON_NC16}/mosaic_nc16_b1_e2_1e05_1e10.model",
               "54a89da7a612ec71e5328baf4fd3c0bbb48feff37a8325c774a428cf363e17f1", 1710688,
               "gnsmrky/pytorch-fast-neural-style-for-web", _BSD3),
    WeightFile("johnson/rain_princess_nc16.pth", f"{_JOHNSON_NC16}/rain-princess_nc16_b1_e2_1e05_1e10.model",
               "2484e30dd51851614fc20c12d8b8f9a4a0f135fe98b60f475a8bf253a4b54632", 1710688,
               "gnsmrky/pytorch-fast-neural-style-for-web", _BSD3),
    WeightFile("johnson/udnie_nc16.pth", f"{_JOHNSON_NC16}/udnie_nc16_b1_e2_1e05_1e10.model",
               "4fc0840ff5f6dce509987acd5a1b52d39e8f94a57bf08c31b4be3a22feeb600f", 1710688,
               "gnsmrky/pytorch-fast-neural-style-for-web", _BSD3),
    # CycleGAN painters (junyanz/pytorch-CycleGAN-and-pix2pix; no checksums published).
    *(WeightFile(f"cyclegan/style_{name}.pth", f"{_CYCLEGAN}/style_{name}.pth", None, 45512716,
                 "junyanz/pytorch-CycleGAN-and-pix2pix", "BSD-2-Clause", approx_size=True)
      for name in ("monet", "vangogh", "cezanne", "ukiyoe")),
    # Super-resolution x4.
    WeightFile("esrgan/RealESRGAN_x4plus.pth", f"{_REALESRGAN}/v0.1.0/RealESRGAN_x4plus.pth",
               "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 67040989,
               "xinntao/Real-ESRGAN", _BSD3),
    WeightFile("esrgan/RealESRGAN_x4plus_anime_6B.pth", f"{_REALESRGAN}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
               "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da", 17938799,
               "xinntao/Real-ESRGAN", _BSD3),
    WeightFile("esrgan/realesr-general-x4v3.pth", f"{_REALESRGAN}/v0.2.5.0/realesr-general-x4v3.pth",
               "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", 4885111,
               "xinntao/Real-ESRGAN", _BSD3),
    WeightFile("esrgan/realesr-animevideov3.pth", f"{_REALESRGAN}/v0.2.5.0/realesr-animevideov3.pth",
               "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d", 2504012,
               "xinntao/Real-ESRGAN", _BSD3),
    WeightFile("esrgan/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
               f"{_REALESRGAN}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", None, None,
               "xinntao/Real-ESRGAN (BasicSR re-release of ESRGAN)", "Apache-2.0"),
    WeightFile("esrgan/RRDB_ESRGAN_x4.pth", None, None, None,
               "xinntao/ESRGAN (Google Drive only: download by hand into WEIGHTS_DIR/esrgan/)", "Apache-2.0"),
)

# --------------------------------------------------------------------------------------------------- style gallery


@dataclass(frozen=True)
class GalleryStyle:
    id: str
    title_ru: str
    title_en: str
    file: WeightFile  # path relative to STYLES_DIR


_EXAMPLES = f"{_RAW}/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8/fast_neural_style/images/style-images"
_ADAIN_STYLES = f"{_RAW}/naoto0804/pytorch-AdaIN/47950d0e6656a95a80a4b105c4c0f58d38ef785c/input/style"
_NEURAL_STYLE = f"{_RAW}/jcjohnson/neural-style/07c4b8299f8fbdafec0c514fc820ff1d7ff62e46/examples/inputs"


def _style(sid: str, ru: str, en: str, name: str, base: str, sha: str, size: int, src: str, lic: str) -> GalleryStyle:
    return GalleryStyle(sid, ru, en, WeightFile(name, f"{base}/{name}", sha, size, src, lic, kind="style_image"))


GALLERY: dict[str, GalleryStyle] = {
    s.id: s
    for s in (
        _style("starry_night", "Звёздная ночь (Ван Гог)", "The Starry Night (Van Gogh)", "starry_night.jpg",
               _NEURAL_STYLE, "0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098", 315236,
               "jcjohnson/neural-style", "MIT"),
        _style("the_scream", "Крик (Мунк)", "The Scream (Munch)", "the_scream.jpg", _NEURAL_STYLE,
               "f3075cddeb974a9ee1d6418f7f33fd05185a7ac7dcb4288bd2805d499a9dcaee", 216723, "jcjohnson/neural-style",
               "MIT"),
        _style("la_muse", "Муза (Пикассо)", "La Muse (Picasso)", "la_muse.jpg", _ADAIN_STYLES,
               "ce156dd2e7cec6d7cb098273a31874f87bc6b1497c2400d883f3f6ca5b9582e4", 603579, "naoto0804/pytorch-AdaIN",
               "MIT"),
        _style("woman_with_hat", "Женщина в шляпе (Матисс)", "Woman with a Hat (Matisse)",
               "woman_with_hat_matisse.jpg", _ADAIN_STYLES,
               "6a8b2383d9c110354a97a42c74bdcc5341be879cbb842ddb7ab5843dbdf56d53", 101689, "naoto0804/pytorch-AdaIN",
               "MIT"),
        _style("mondrian", "Композиция (Мондриан)", "Composition (Mondrian)", "mondrian.jpg", _ADAIN_STYLES,
               "b3f228ad1dfa21ed368451a08af372640b2fc062597d47688fffbd06f3c82b0f", 526934, "naoto0804/pytorch-AdaIN",
               "MIT"),
        _style("sketch", "Карандашный набросок", "Pencil sketch", "sketch.png", _ADAIN_STYLES,
               "15ad03557b213c98e8a0dd5806961aeb53c02f1abe0c0f2b9e66e433d5858819", 131299, "naoto0804/pytorch-AdaIN",
               "MIT"),
        _style("candy", "Конфеты", "Candy", "candy.jpg", _EXAMPLES,
               "1af09b2c18a6674b7d88849cb87564dd77e1ce04d1517bb085449b614cc0c8d8", 376101, "pytorch/examples", _BSD3),
        _style("mosaic", "Мозаика", "Mosaic", "mosaic.jpg", _EXAMPLES,
               "17698add60e1ce8618103c04e6cdddc5ac21b82181a37b7517413f36a5b785a4", 77378, "pytorch/examples", _BSD3),
        _style("rain_princess", "Принцесса дождя (Афремов)", "Rain Princess (Afremov)", "rain-princess.jpg",
               _EXAMPLES, "edc860681275f663ff23b28ade7436b34bf8ea28ae60be773f3e1c39b938e5d3", 286356,
               "pytorch/examples", _BSD3),
        _style("udnie", "Удни (Пикабиа)", "Udnie (Picabia)", "udnie.jpg", _EXAMPLES,
               "270be68e7c6c282c9edb62ab7bcd345b1fb6b6cebb5d1f10d9a2d21915f69a8a", 39795, "pytorch/examples", _BSD3),
    )
}

# --------------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Option:
    """A user-tunable setting. ``kind`` is float | bool | choice | int; ``choices`` for choice."""

    name: str
    kind: str
    default: Any
    title_ru: str
    title_en: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    def validate(self, value: Any) -> Any:
        try:
            if self.kind == "bool":
                if isinstance(value, str):
                    return value.strip().lower() in {"1", "true", "yes", "on"}
                return bool(value)
            if self.kind == "choice":
                if str(value) not in self.choices:
                    raise ValueError
                return str(value)
            number = float(value) if self.kind == "float" else int(value)
        except (TypeError, ValueError):
            raise BadRequest(message=f"option {self.name}={value!r} is not valid", option=self.name) from None
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise BadRequest(message=f"option {self.name}={value!r} is outside [{self.min}, {self.max}]",
                             option=self.name)
        return number


@dataclass(frozen=True)
class Preset:
    id: str
    title_ru: str
    title_en: str
    alternatives: tuple[tuple[str, ...], ...]  # manifest paths, in order of preference
    style_image: str | None = None  # a GALLERY id showing what the preset imitates


@dataclass(frozen=True)
class ModelSpec:
    id: str
    family: str  # a key of FAMILIES: the object that loads and runs the model
    kind: str  # "arbitrary_style" (needs a style image) | "preset_style" | "single_image"
    title_ru: str
    title_en: str
    description_ru: str
    description_en: str
    options: tuple[Option, ...] = ()
    presets: tuple[Preset, ...] = ()
    alternatives: tuple[tuple[str, ...], ...] = ()  # for models without presets
    max_styles: int = 1
    multi_step: bool = False  # reports progress over many steps or tiles
    default_max_side: int = 1024
    hd_max_side: int = 2048
    cpu_pixel_budget: int = 16_000_000  # inputs above it are refused before they start (after resizing)
    timeout_s: float = 600.0

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise BadRequest(message=f"model {self.id} has no option {name!r}", option=name)

    def preset(self, preset_id: str) -> Preset:
        for p in self.presets:
            if p.id == preset_id:
                return p
        raise BadRequest(message=f"model {self.id} has no preset {preset_id!r}", preset=preset_id)

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, unknown names and out-of-range values refused."""
        clean = {opt.name: opt.default for opt in self.options}
        for name, value in options.items():
            clean[name] = self.option(name).validate(value)
        return clean


def _opt_strength(default: float = 1.0) -> Option:
    return Option("strength", "float", default, "Сила стиля", "Style strength", 0.0, 1.0)


_PRESERVE = Option("preserve_colors", "bool", False, "Сохранить цвета", "Keep colours")
_SIZE = Option("size", "choice", "standard", "Размер", "Size", choices=("standard", "hd"))
_GATYS_QUALITY = Option("quality", "choice", "standard", "Качество", "Quality", choices=("fast", "standard", "high"))
_OPTIMIZER = Option("optimizer", "choice", "lbfgs", "Оптимизатор", "Optimiser", choices=("lbfgs", "adam"))
_MICROAST_FILES = tuple(f"microast/{part}_iter_160000.pth.tar"
                        for part in ("content_encoder", "style_encoder", "modulator", "decoder"))


def _johnson(pid: str, ru: str, en: str) -> Preset:
    return Preset(pid, ru, en, ((f"johnson/{pid}.pth",), (f"johnson/{pid}_nc16.pth",)), style_image=pid)


def _cyclegan(pid: str, ru: str, en: str) -> Preset:
    return Preset(pid, ru, en, ((f"cyclegan/style_{pid}.pth",),))


_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "microast", "microast", "arbitrary_style", "MicroAST (быстро)", "MicroAST (fast)",
        "Любой стиль за секунду: лёгкая сеть без VGG.", "Any style in about a second: a tiny network without VGG.",
        options=(_opt_strength(), _PRESERVE, _SIZE), alternatives=(_MICROAST_FILES,), max_styles=2,
        default_max_side=1024, hd_max_side=2048, timeout_s=120,
    ),
    ModelSpec(
        "adain", "adain", "arbitrary_style", "AdaIN", "AdaIN",
        "Любой стиль, смешение двух стилей.", "Any style, with a blend of two styles.",
        options=(_opt_strength(), _PRESERVE, _SIZE), alternatives=(("adain/vgg_normalised.pth", "adain/decoder.pth"),),
        max_styles=2, default_max_side=768, hd_max_side=1536, timeout_s=180,
    ),
    ModelSpec(
        "gatys", "gatys", "arbitrary_style", "Gatys (высокое качество)", "Gatys (high quality)",
        "Оптимизация изображения: медленно, но точнее всего.",
        "Optimises the image itself: slow but the most faithful.",
        options=(_opt_strength(), _PRESERVE, _SIZE, _GATYS_QUALITY, _OPTIMIZER,
                 Option("content_weight", "float", 1.0, "Вес содержания", "Content weight", 0.0, 1e4),
                 Option("style_weight", "float", 1e6, "Вес стиля", "Style weight", 0.0, 1e12),
                 Option("tv_weight", "float", 1e-4, "Вес сглаживания", "Total variation weight", 0.0, 1e3),
                 Option("steps", "int", 0, "Шаги (0 = по качеству)", "Steps (0 = from quality)", 0, 2000)),
        alternatives=(("vgg19/vgg19-features.pth",), ("vgg19/vgg19-dcbb9e9d.pth",),
                      ("vgg19/vgg19_first_five_conv_layers.pth",)),
        max_styles=2, multi_step=True, default_max_side=512, hd_max_side=1024, cpu_pixel_budget=1_100_000,
        timeout_s=1200,
    ),
    ModelSpec(
        "johnson", "johnson", "preset_style", "Быстрые стили (Johnson)", "Fast styles (Johnson)",
        "Готовые стили, обученные на одной картине.", "Ready styles, each trained on one painting.",
        options=(_opt_strength(), _PRESERVE, _SIZE),
        presets=(_johnson("candy", "Конфеты", "Candy"), _johnson("mosaic", "Мозаика", "Mosaic"),
                 _johnson("rain_princess", "Принцесса дождя", "Rain Princess"), _johnson("udnie", "Удни", "Udnie")),
        default_max_side=1024, hd_max_side=2048, timeout_s=180,
    ),
    ModelSpec(
        "cyclegan", "cyclegan", "preset_style", "Художники (CycleGAN)", "Painters (CycleGAN)",
        "Фото как картина Моне, Ван Гога, Сезанна или гравюра укиё-э.",
        "Your photo as painted by Monet, Van Gogh, Cézanne or as an ukiyo-e print.",
        options=(_opt_strength(), _SIZE),
        presets=(_cyclegan("monet", "Моне", "Monet"), _cyclegan("vangogh", "Ван Гог", "Van Gogh"),
                 _cyclegan("cezanne", "Сезанн", "Cézanne"), _cyclegan("ukiyoe", "Укиё-э", "Ukiyo-e")),
        default_max_side=768, hd_max_side=1536, timeout_s=300,
    ),
    ModelSpec(
        "upscale", "superres", "single_image", "Увеличение x4", "Upscale x4",
        "Увеличение в 4 раза с дорисовкой деталей.", "Four times larger, with detail restored.",
        presets=(
            Preset("general", "Фото", "Photo", (
                ("esrgan/RealESRGAN_x4plus.pth",), ("esrgan/realesr-general-x4v3.pth",),
                ("esrgan/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",), ("esrgan/RRDB_ESRGAN_x4.pth",),
                ("esrgan/realesr-animevideov3.pth",))),
            Preset("anime", "Аниме и рисунки", "Anime and drawings", (
                ("esrgan/RealESRGAN_x4plus_anime_6B.pth",), ("esrgan/realesr-animevideov3.pth",))),
        ),
        multi_step=True, default_max_side=1024, hd_max_side=2048, cpu_pixel_budget=4_200_000, timeout_s=900,
    ),
)

MODELS: dict[str, ModelSpec] = {m.id: m for m in _MODELS}

# Family name -> "module:attribute" of the object that loads and runs it (``ml_models.families.Family``). Strings, so
# this module stays importable without torch; ``families.get`` imports the object when the engine first needs it.
FAMILIES: dict[str, str] = {
    "johnson": "ml_models.johnson:FAMILY",
    "cyclegan": "ml_models.cyclegan:FAMILY",
    "microast": "ml_models.microast:FAMILY",
    "adain": "ml_models.adain:FAMILY",
    "gatys": "ml_models.gatys:FAMILY",
    "superres": "ml_models.superres:FAMILY",
}


def get(model_id: str) -> ModelSpec:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadRequest(message=f"unknown model {model_id!r}; known: {', '.join(MODELS)}", model=model_id) from None


def _alternatives(spec: ModelSpec, preset: str | None) -> tuple[tuple[str, ...], ...]:
    if spec.presets:
        if preset is None:
            raise BadRequest(message=f"model {spec.id} needs a preset: {', '.join(p.id for p in spec.presets)}")
        return spec.preset(preset).alternatives
    return spec.alternatives


def first_present(alternatives: Iterable[tuple[str, ...]], weights_dir: Path) -> tuple[str, ...] | None:
    for files in alternatives:
        if all((Path(weights_dir) / f).is_file() for f in files):
            return files
    return None


def resolve_weights(model_id: str, preset: str | None, weights_dir: Path) -> list[Path]:
    """Paths of the first alternative present, or ``WeightsMissing`` naming the download command."""
    spec = get(model_id)
    alternatives = _alternatives(spec, preset)
    files = first_present(alternatives, weights_dir)
    if files is None:
        wanted = [f for f in alternatives[0]]
        target = f"{model_id}:{preset}" if preset else model_id
        raise WeightsMissing(
            message=f"weights for {target} are missing in {weights_dir} (looked for "
                    f"{' or '.join('+'.join(a) for a in alternatives)}); run: python -m ml_models download {target}",
            files=wanted, command=f"python -m ml_models download {target}", model=model_id, preset=preset,
        )
    return [Path(weights_dir) / f for f in files]


@dataclass(frozen=True)
class Availability:
    """What the bot may offer: models with at least one usable preset, and what is missing (for logs and /stats)."""

    models: dict[str, tuple[str, ...]] = field(default_factory=dict)  # model id -> usable preset ids (() if none)
    missing: dict[str, str] = field(default_factory=dict)  # "model" or "model:preset" -> download command


def available(weights_dir: Path) -> Availability:
    result = Availability()
    for spec in MODELS.values():
        if spec.presets:
            usable = []
            for p in spec.presets:
                if first_present(p.alternatives, weights_dir):
                    usable.append(p.id)
                else:
                    result.missing[f"{spec.id}:{p.id}"] = f"python -m ml_models download {spec.id}:{p.id}"
            if usable:
                result.models[spec.id] = tuple(usable)
        elif first_present(spec.alternatives, weights_dir):
            result.models[spec.id] = ()
        else:
            result.missing[spec.id] = f"python -m ml_models download {spec.id}"
    return result


def gallery_available(styles_dir: Path) -> list[GalleryStyle]:
    return [s for s in GALLERY.values() if (Path(styles_dir) / s.file.path).is_file()]


def files_for(target: str) -> list[WeightFile]:
    """Manifest files a download target needs: ``model``, ``model:preset``, ``gallery`` or a manifest path.

    For a model the first alternative that can be fetched automatically is chosen (the preferred one), plus the
    archive or source a file is extracted or converted from.
    """
    if target == "gallery":
        return [s.file for s in GALLERY.values()]
    if target in MANIFEST:
        return _with_sources(MANIFEST[target])
    model_id, _, preset = target.partition(":")
    spec = get(model_id)
    groups = ([_alternatives(spec, preset)] if preset or not spec.presets
              else [p.alternatives for p in spec.presets])
    out: list[WeightFile] = []
    for alternatives in groups:
        for files in alternatives:
            entries = [MANIFEST[f] for f in files]
            if all(_fetchable(e) for e in entries):
                for e in entries:
                    out.extend(x for x in _with_sources(e) if x not in out)
                break
    return out


def _fetchable(entry: WeightFile) -> bool:
    if entry.url:
        return True
    source = entry.archive or entry.derived_from
    return bool(source and MANIFEST[source].url)


def _with_sources(entry: WeightFile) -> list[WeightFile]:
    source = entry.archive or entry.derived_from
    return ([MANIFEST[source]] if source else []) + [entry]
