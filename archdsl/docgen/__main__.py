"""Regenerate the generated documents of a checkout:

    python -m archdsl.docgen                 # docs/ops.md, docs/errors.md, docs/gallery.md (+ README's resnet.svg)
    python -m archdsl.docgen ops errors      # only those
    python -m archdsl.docgen --root DIR      # the checkout at DIR (default: the current directory)

The gallery's diagrams need Graphviz's `dot`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import errors, gallery, ops

PAGES = {"ops": ops, "errors": errors, "gallery": gallery}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m archdsl.docgen", description=__doc__.splitlines()[0])
    ap.add_argument("pages", nargs="*", metavar="PAGE", help=f"any of {', '.join(PAGES)} (default: all)")
    ap.add_argument("--root", default=".", help="the checkout (its specs/ and docs/)")
    args = ap.parse_args(argv)
    if unknown := set(args.pages) - set(PAGES):
        ap.error(f"unknown page {', '.join(sorted(unknown))}")
    root = Path(args.root)
    for name in args.pages or PAGES:
        (root / "docs" / f"{name}.md").write_text(PAGES[name].page(root), encoding="utf-8")
        if name == "gallery":
            gallery.draw_all(root, root / "docs")


if __name__ == "__main__":
    main()
