"""`archdsl lsp`: a Language Server Protocol server for spec files (needs the `lsp` extra: pygls).

Only `server.py` imports pygls; the rest works on archdsl's own types:
  analysis.py   check a document's text (read, elaborate, passes) into diagnostics, cached by text
  index.py      the names of a spec: where each is defined and used, and what a use refers to
  info.py       what hover and completion show: shapes, parameters, MACs, values, op signatures
  positions.py  1-based spans to LSP positions and back (UTF-16 by default)
"""
