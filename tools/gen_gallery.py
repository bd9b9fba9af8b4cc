"""Write docs/gallery.md and docs/gallery/*.svg: every spec of the zoo (specs/*.yaml) with its diagram and totals.

    python tools/gen_gallery.py              # regenerate the committed gallery (needs Graphviz's `dot`)
    python tools/gen_gallery.py --out DIR    # write DIR/gallery.md and DIR/gallery/ instead

Each spec is drawn with its default parameters at the deepest --depth whose diagram has at most
MAX_BOXES boxes (all of it when it fits), so that every diagram stays legible at its natural size.
tests/test_draw_docs.py runs this into a temporary folder and checks that docs/gallery.md is current.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archdsl  # noqa: E402
from archdsl.backends.graphviz import render, spec_dot  # noqa: E402
from archdsl.backends.graphviz.labels import count_text, shape_text  # noqa: E402
from archdsl.backends.graphviz.view import build_view  # noqa: E402
from archdsl.ir.graph import flat_tensors  # noqa: E402

MAX_BOXES = 60
# More views of the largest networks: (spec, parameters, depth, caption).
EXTRA_VIEWS = [
    ("googlenet", {}, None, "every op"),
    ("resnet", {}, 2, "ResNet-50 at --depth 2: each Bottleneck opened"),
    ("ntm", {}, None, "every op of the controller and the read and write heads"),
]


def zoo() -> list[Path]:
    return sorted((ROOT / "specs").glob("*.yaml"))


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs"), help="folder for gallery.md and gallery/ (default: docs)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    table = ["| spec | parameters | memory (float32) | MACs per sample | input | output | drawn at |",
             "|---|---:|---:|---:|---|---|---|"]
    sections = []
    for file in zoo():
        spec = archdsl.load(str(file))
        s = spec.summary()
        depth = legible_depth(spec)
        draw(spec, depth, out / "gallery" / f"{spec.name}.svg")
        ins = ", ".join(shape_text(shape) for shape in spec.input_shapes())
        outs = ", ".join(shape_text(spec.graph.node(t.node)["shape"]) for model in spec.models
                         for t in flat_tensors(spec.graph.outputs[model]))
        where = "full depth" if depth is None else f"--depth {depth}"
        table.append(f"| [{spec.name}](#{spec.name}) | {s.params:,} | {s.params * 4 / 2**20:.2f} MB | "
                     f"{per_sample(s.macs)} | {ins} | {outs} | {where} |")
        section = [f"## {spec.name}", "", spec.doc.doc or "", "",
                   f"`archdsl draw specs/{file.name} -o {spec.name}.svg{depth_flag(depth)}`", "",
                   f"![{spec.name}](gallery/{spec.name}.svg)", ""]
        for name, params, extra_depth, caption in EXTRA_VIEWS:
            if name != file.stem:
                continue
            extra = archdsl.load(str(file), **params)
            stem = f"{spec.name}_depth{extra_depth}" if extra_depth is not None else f"{spec.name}_full"
            draw(extra, extra_depth, out / "gallery" / f"{stem}.svg")
            defines = "".join(f" -D {k}={v}" for k, v in params.items())
            section += [f"More: [{caption}](gallery/{stem}.svg) "
                        f"(`archdsl draw specs/{file.name} -o {stem}.svg{defines}{depth_flag(extra_depth)}`)", ""]
        sections += section
    head = ["# Gallery", "",
            "Every spec of the zoo (`specs/`) with its default parameters, drawn by `archdsl draw`. Boxes are ops "
            "with their key arguments, arrows carry the statically inferred shape (N is the batch size), frames "
            "are block instances (dashed: sequences), and a white box is a block folded by `--depth` "
            "(`x N`: N identical blocks in a row).", "",
            "Generated by `python tools/gen_gallery.py` (needs Graphviz's `dot`); CI runs it to check this page "
            "is current.", ""]
    (out / "gallery.md").write_text("\n".join(head + table + [""] + sections).rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
