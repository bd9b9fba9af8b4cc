"""docs/gallery.md: every spec of the zoo (specs/*.yaml) with its diagram and totals.

The page does not link committed pictures: each diagram is a `::: archdsl-diagram specs/x.yaml` block (with the
view's `depth` and `params`) that the Markdown extension archdsl.mkdocs renders when the site is built
(`mkdocs build`, mkdocs.yml at the root of the checkout), so a diagram can never be stale. The one committed
diagram, docs/gallery/resnet.svg, is the README's (GitHub shows the README without building the docs).

Each spec is drawn with its default parameters at the deepest --depth whose diagram has at most
MAX_BOXES boxes (all of it when it fits), so that every diagram stays legible at its natural size. Under some
specs, more views: EXTRA_VIEWS (a deeper or complete view) and MODEL_VIEWS (zoo models that are another
variant of the spec, as the segmentation models are of resnet.yaml and mobilenet_v3.yaml).
"""
from __future__ import annotations

from pathlib import Path

from .. import zoo as catalogue
from ..api import load
from ..backends.graphviz import render, spec_dot
from ..backends.graphviz.labels import count_text, shape_text
from ..backends.graphviz.view import build_view
from ..ir.graph import flat_tensors
from ..reporting.summary import headline_text

MAX_BOXES = 60
# More views of the largest networks: (spec, parameters, depth, caption).
EXTRA_VIEWS = [
    ("googlenet", {}, None, "every op"),
    ("resnet", {}, 2, "ResNet-50 at --depth 2: each Bottleneck opened"),
    ("ntm", {}, None, "every op of the controller and the read and write heads"),
]
# Zoo models that are other variants of a spec (archdsl.zoo's parameters), drawn at their legible depth:
# (torchvision's name, caption).
MODEL_VIEWS = [
    ("fcn_resnet50", "FCN-ResNet-50: the dilated body as `backbone`, the FCN head as `classifier`"),
    ("deeplabv3_resnet50", "DeepLabV3-ResNet-50: the ASPP head, imported from "
                           "specs/blocks/segmentation_heads.yaml"),
    ("deeplabv3_mobilenet_v3_large", "DeepLabV3-MobileNetV3-Large: the same ASPP on "
                                     "MobileNetV3's dilated features"),
    ("lraspp_mobilenet_v3_large", "LR-ASPP-MobileNetV3-Large: the Lite R-ASPP head on the "
                                  "stride-8 and stride-16 features"),
]


def zoo(root: Path) -> list[Path]:
    return sorted((root / "specs").glob("*.yaml"))


def box_count(spec, depth) -> int:
    return len(build_view(spec.graph, depth).items)


def legible_depth(spec) -> int | None:
    """None (everything) when it fits, else the deepest depth that does (at least 0)."""
    if box_count(spec, None) <= MAX_BOXES:
        return None
    levels = max(_levels(root) for root in spec.graph.roots.values())
    for depth in range(levels - 1, 0, -1):
        if box_count(spec, depth) <= MAX_BOXES:
            return depth
    return 0


def _levels(module, level: int = 0) -> int:
    kids = [c for c in module.children.values() if c.kind in ("block", "seq")]
    return max([_levels(c, level + 1) for c in kids], default=level)


def per_sample(n) -> str:
    """MACs for one sample: the batch size N set to 1; other symbols stay."""
    if not isinstance(n, int) and hasattr(n, "free_symbols"):
        batch = [s for s in n.free_symbols if s.name == "N"]
        n = n.subs({s: 1 for s in batch})
        n = int(n) if not n.free_symbols else n
    return count_text(n)


def draw(spec, depth, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(spec_dot(spec, depth)[0], "svg"))


def depth_flag(depth) -> str:
    return "" if depth is None else f" --depth {depth}"


def define_text(value) -> str:
    """A parameter's value as `-D` reads it: `true`, `[false,true,true]` (no spaces: one shell word)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(define_text(v) for v in value) + "]"
    return str(value)


def views(root: Path):
    """(zoo file, spec, depth, svg stem, parameters, caption or None): the main view of each spec, then its
    extras."""
    for file in zoo(root):
        spec = load(str(file))
        yield file, spec, legible_depth(spec), spec.name, {}, None
        for name, params, depth, caption in EXTRA_VIEWS:
            if name == file.stem:
                stem = f"{spec.name}_depth{depth}" if depth is not None else f"{spec.name}_full"
                yield file, load(str(file), **params), depth, stem, params, caption
        for model, caption in MODEL_VIEWS:
            name, params = catalogue.TORCHVISION[model]
            if name == file.stem:
                variant = load(str(file), **params)
                yield file, variant, legible_depth(variant), model, params, caption


# The views drawn to docs/gallery/<stem>.svg and committed: the pictures used outside the built docs site.
COMMITTED = ("resnet",)  # README.md


def draw_all(root: Path, out: Path) -> None:
    """Write out/gallery/<stem>.svg for the COMMITTED views (needs Graphviz's `dot`)."""
    for _, spec, depth, stem, _, _ in views(root):
        if stem in COMMITTED:
            draw(spec, depth, out / "gallery" / f"{stem}.svg")


def block(file: Path, depth, params: dict) -> list[str]:
    """The lines of the archdsl.mkdocs block that draws this view when the page is built."""
    lines = [f"::: archdsl-diagram specs/{file.name}"]
    if depth is not None:
        lines.append(f"    depth: {depth}")
    if params:
        lines.append("    params: " + ", ".join(f"{k}={define_text(v)}" for k, v in params.items()))
    return lines


def page(root: Path) -> str:
    """The text of docs/gallery.md for the zoo of the checkout at `root`."""
    table = ["| spec | parameters | memory (float32) | MACs per sample | input | output | drawn at |",
             "|---|---:|---:|---:|---|---|---|"]
    sections = []
    for file, spec, depth, stem, params, caption in views(root):
        defines = "".join(f" -D {k}={define_text(v)}" for k, v in params.items())
        command = f"archdsl draw specs/{file.name} -o {stem}.svg{defines}{depth_flag(depth)}"
        if caption is not None:
            sections += [f"### {spec.name}: {caption}", "", f"`{command}`", "", *block(file, depth, params), ""]
            continue
        s = spec.summary()
        ins = ", ".join(shape_text(shape) for shape in spec.input_shapes())
        outs = ", ".join(shape_text(spec.graph.node(t.node).meta.shape) for model in spec.models
                         for t in flat_tensors(spec.graph.outputs[model]))
        where = "full depth" if depth is None else f"--depth {depth}"
        table.append(f"| [{spec.name}](#{spec.name}) | {s.params:,} | {s.params * 4 / 2**20:.2f} MB | "
                     f"{headline_text(s, per_sample)} | {ins} | {outs} | {where} |")
        sections += [f"## {spec.name}", "", spec.doc.doc or "", "", f"`{command}`", "",
                     *block(file, depth, params), ""]
    head = ["# Gallery", "",
            "Every spec of the zoo (`specs/`) with its default parameters, drawn by `archdsl draw`. Boxes are ops "
            "with their key arguments, arrows carry the statically inferred shape (N is the batch size), frames "
            "are block instances (dashed: sequences), and a white box is a block folded by `--depth` "
            "(`x N`: N identical blocks in a row). Under some specs, more views: a deeper or complete one, or a zoo model "
            "that is another variant of the spec (the segmentation models under resnet and mobilenet_v3). MACs per sample are one forward pass in eval mode (methods and "
            "training-only outputs aside); in a spec of several models, that of the model using the others, or each "
            "model's where none does.", "",
            "Generated by `python -m archdsl.docgen gallery`; tests/test_docgen.py checks that this page is "
            "current. The diagrams are drawn from the specs when the site is built (`mkdocs build`: the "
            "`::: archdsl-diagram` blocks of the Markdown extension archdsl.mkdocs, docs/docs-integration.md; "
            "they need Graphviz's `dot`), so they can never be stale.", ""]
    return "\n".join(head + table + [""] + sections).rstrip("\n") + "\n"
