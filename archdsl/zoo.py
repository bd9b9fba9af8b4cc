"""The zoo catalogue: every model of the zoo under torchvision's name, with the spec and parameters that build it.

    >>> from archdsl import zoo
    >>> zoo.names()["resnet50"]
    (PosixPath('.../specs/resnet.yaml'), {'depth': 50})
    >>> spec = zoo.load("resnext50_32x4d", num_classes=10)   # a Spec, like archdsl.load

A torchvision model (`torchvision.models.<name>()`) is listed under its torchvision name; a zoo spec that no
torchvision model uses (lenet5, lstm_classifier, ...) is listed under its file name with its defaults.

Where the specs are: the zoo's spec files live in the checkout's `specs/` folder, beside the `archdsl`
package (`<checkout>/archdsl/zoo.py` -> `<checkout>/specs/`), which is where an editable install
(`pip install -e .`) finds them. An install that does not carry the checkout along (a wheel) sets the
environment variable `ARCHDSL_SPECS` to a folder holding the spec files; without either, the functions
here raise FileNotFoundError saying so.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

ENV = "ARCHDSL_SPECS"

# torchvision model name -> (spec file stem, parameters), in torchvision's order of families
TORCHVISION: dict[str, tuple[str, dict]] = {
    "alexnet": ("alexnet", {"variant": "torchvision"}),
    **{f"vgg{d}{bn}": ("vgg", {"depth": d, "batch_norm": bool(bn)}) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"resnet{d}": ("resnet", {"depth": d}) for d in (18, 34, 50, 101, 152)},
    # torchvision's ResNet(groups=..., width_per_group=...) builders
    "resnext50_32x4d": ("resnet", {"depth": 50, "groups": 32, "width_per_group": 4}),
    "resnext101_32x8d": ("resnet", {"depth": 101, "groups": 32, "width_per_group": 8}),
    "resnext101_64x4d": ("resnet", {"depth": 101, "groups": 64, "width_per_group": 4}),
    "wide_resnet50_2": ("resnet", {"depth": 50, "width_per_group": 128}),
    "wide_resnet101_2": ("resnet", {"depth": 101, "width_per_group": 128}),
    "googlenet": ("googlenet", {"variant": "torchvision"}),  # googlenet(aux_logits=False, init_weights=False)
    "squeezenet1_0": ("squeezenet", {"version": 1.0}),
    "squeezenet1_1": ("squeezenet", {"version": 1.1}),
    "mobilenet_v2": ("mobilenet_v2", {}),
    "mobilenet_v3_large": ("mobilenet_v3", {"arch": "large"}),
    "mobilenet_v3_small": ("mobilenet_v3", {"arch": "small"}),
    **{f"efficientnet_{v}": ("efficientnet", {"variant": v})
       for v in ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "v2_s", "v2_m", "v2_l")},
    **{f"mnasnet{a}": ("mnasnet", {"alpha": float(a.replace("_", "."))}) for a in ("0_5", "0_75", "1_0", "1_3")},
    **{f"densenet{d}": ("densenet", {"depth": d}) for d in (121, 161, 169, 201)},
    **{f"convnext_{v}": ("convnext", {"variant": v}) for v in ("tiny", "small", "base", "large")},
    **{f"shufflenet_v2_x{w}": ("shufflenet_v2", {"width": float(w.replace("_", "."))})
       for w in ("0_5", "1_0", "1_5", "2_0")},
    "inception_v3": ("inception_v3", {}),  # inception_v3(aux_logits=False, init_weights=False)
    **{f"vit_{v}": ("vit", {"variant": v}) for v in ("b_16", "b_32", "l_16", "l_32", "h_14")},
    "maxvit_t": ("maxvit", {}),  # torchvision's maxvit_t builder: the spec's defaults
    **{f"swin_{v}": ("swin", {"version": 1, "variant": v}) for v in "tsb"},
    **{f"swin_v2_{v}": ("swin", {"version": 2, "variant": v}) for v in "tsb"},
    # torchvision's regnet_* builders: BlockParams.from_init_params(depth, w_0, w_a, w_m, group_width, se_ratio)
    **{f"regnet_{v}": ("regnet", dict(zip(("depth", "w_0", "w_a", "w_m", "group_width", "se_ratio"), p)))
       for v, p in {
           "y_400mf": (16, 48, 27.89, 2.09, 8, 0.25), "y_800mf": (14, 56, 38.84, 2.4, 16, 0.25),
           "y_1_6gf": (27, 48, 20.71, 2.65, 24, 0.25), "y_3_2gf": (21, 80, 42.63, 2.66, 24, 0.25),
           "y_8gf": (17, 192, 76.82, 2.19, 56, 0.25), "y_16gf": (18, 200, 106.23, 2.48, 112, 0.25),
           "y_32gf": (20, 232, 115.89, 2.53, 232, 0.25), "y_128gf": (27, 456, 160.83, 2.52, 264, 0.25),
           "x_400mf": (22, 24, 24.48, 2.54, 16, 0.0), "x_800mf": (16, 56, 35.73, 2.28, 16, 0.0),
           "x_1_6gf": (18, 80, 34.01, 2.25, 24, 0.0), "x_3_2gf": (25, 88, 26.31, 2.25, 48, 0.0),
           "x_8gf": (23, 80, 49.56, 2.88, 120, 0.0), "x_16gf": (22, 216, 55.59, 2.1, 128, 0.0),
           "x_32gf": (23, 320, 69.86, 2.0, 168, 0.0)}.items()},
    # torchvision.models.segmentation (aux_loss=False, 21 classes): ResNet-50/101 with the last two stages
    # dilated, MobileNetV3-Large with the last stage dilated
    **{f"{h}_resnet{d}": ("resnet", {"depth": d, "head": h, "replace_stride_with_dilation": [False, True, True],
                                     "num_classes": 21}) for h in ("fcn", "deeplabv3") for d in (50, 101)},
    **{f"{h}_mobilenet_v3_large": ("mobilenet_v3", {"arch": "large", "head": h, "dilated": True, "num_classes": 21})
       for h in ("deeplabv3", "lraspp")},
    # torchvision.models.video: VideoResNet's three variants, S3D
    **{v: ("video_resnet", {"variant": v}) for v in ("r3d_18", "mc3_18", "r2plus1d_18")},
    "s3d": ("s3d", {}),
}


def specs_dir() -> Path:
    """The folder of the zoo's spec files: $ARCHDSL_SPECS, else the checkout's specs/ beside the package."""
    env = os.environ.get(ENV)
    folder = Path(env) if env else Path(__file__).resolve().parent.parent / "specs"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the zoo's spec folder {folder} does not exist: archdsl finds specs/ beside the package in a "
            f"checkout (pip install -e .); elsewhere set {ENV} to a folder holding the zoo's .yaml files")
    return folder


def names() -> dict[str, tuple[Path, dict]]:
    """Every zoo model: name -> (spec file, parameters). torchvision's models under torchvision's names, then
    every other spec of specs/ under its file name with its default parameters."""
    folder = specs_dir()
    out = {name: (folder / f"{stem}.yaml", dict(params)) for name, (stem, params) in TORCHVISION.items()
           if (folder / f"{stem}.yaml").is_file()}
    used = {stem for stem, _ in TORCHVISION.values()}
    for path in sorted(folder.glob("*.yaml")):
        if path.stem not in used and path.stem not in out and not _library(path):
            out[path.stem] = (path, {})
    return out


def _library(path: Path) -> bool:
    """Whether a spec file holds blocks only (no top-level `inputs:` or `models:`): a block library that other
    specs import, not a model (the zoo's own live in specs/blocks/)."""
    return not re.search(r"^(inputs|models)\s*:", path.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)


def load(name: str, **overrides):
    """The Spec of zoo model `name`; `overrides` (parameters or symbolic dims, as for archdsl.load) win over
    the catalogue's parameters: load('resnet50', num_classes=10, N=1)."""
    from .api import load as load_spec

    catalogue = names()
    if name not in catalogue:
        import difflib

        close = difflib.get_close_matches(name, list(catalogue), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; archdsl.zoo.names() lists them"
        raise KeyError(f"no zoo model named {name!r}{hint}")
    path, params = catalogue[name]
    return load_spec(str(path), **{**params, **overrides})


# --- `archdsl zoo` -------------------------------------------------------------------------------------

def cli_options(parser) -> None:
    parser.add_argument("patterns", nargs="*", metavar="NAME",
                        help="only the models whose names match these shell patterns (resnet*, efficientnet_b?)")
    parser.add_argument("--no-cost", dest="cost", action="store_false",
                        help="list names, specs and parameters without loading the specs (instant)")


def rows(patterns=(), cost: bool = True) -> list[tuple[str, str, str, str, str]]:
    """(name, spec, variant parameters, parameters, MACs for one sample) of each model matching `patterns`."""
    import fnmatch

    from .errors import ArchDSLError
    from .reporting.summary import headline_text, human

    out = []
    for name, (path, params) in names().items():
        if patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        variant = " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in params.items())
        count = macs = ""
        if cost:
            try:
                s = load(name).summary()
                count, macs = f"{s.params:,}", headline_text(s, lambda n: human(_per_sample(n)))
            except ArchDSLError as exc:
                count = macs = f"error[{exc.code}]"
        out.append((name, f"specs/{path.name}", variant, count, macs))
    return out


def _per_sample(n):
    """MACs with the batch size N set to 1 (other symbolic dims stay)."""
    if not isinstance(n, int) and hasattr(n, "free_symbols"):
        n = n.subs({s: 1 for s in n.free_symbols if s.name == "N"})
        return int(n) if not n.free_symbols else n
    return n


def cli_run(args) -> int:
    table = rows(args.patterns, args.cost)
    if not table:
        from .errors import UsageError

        raise UsageError(f"no zoo model matches {' '.join(args.patterns)}; `archdsl zoo` lists them all")
    head = ("model", "spec", "variant", "parameters", "MACs") if args.cost else ("model", "spec", "variant")
    cells = [head] + [r[:len(head)] for r in table]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    right = {3}
    for r in cells:
        print("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return 0
