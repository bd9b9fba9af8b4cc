"""Generators of the reference documents in docs/: ops.md (the op registry), errors.md (the error codes
with a real diagnostic each) and gallery.md (every zoo spec drawn, with its totals).

Each module's `page(root)` returns the document's text for the checkout at `root`; `python -m archdsl.docgen`
writes them (see __main__.py). tests/test_docgen.py compares each committed document with `page()`.
"""
