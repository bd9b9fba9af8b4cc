"""`imports:` blocks written in other spec files, read safely and checked for clashes.

    imports:
      blocks/segmentation_heads.yaml: [ASPP, LRASPPHead]   # or "*": every block of the file

A spec is untrusted data, and so are the paths it names. An imported file:
- is named relative to the importing file, ends in .yaml or .yml, and is not absolute;
- lies in the importing file's folder or below it once every symlink is resolved (no `..` out of it);
- is a regular file (not a folder, device or FIFO), read up to `max_file_bytes` like any spec;
- is one of at most `max_imports` files, at most `max_import_depth` imports deep, and in no import cycle.

An imported block behaves like a block of the importing spec, except for the names it reads: its own
parameters, lets, layers and inputs, the ops and builtins, and the blocks of its own file (and the blocks
that file imports). It never sees the importing spec's params or lets, nor its own file's: those are the
scope of a model, and a block shared by several specs must not depend on one of them. The blocks an
imported block uses are brought along without becoming names of the importing spec (`SpecDoc.hidden`);
every block name stays unique, since each becomes one class of the generated file.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..errors import ArchDSLError, FileError, LimitError, NameError_, Span, StructureError, did_you_mean
from ..limits import current as current_limit, exceeded
from .spec import REQUIRED, BlockDef, Import, SpecDoc, _names_in, parse_spec, read_text

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Home:
    """Where an imported block is written: the names in scope there (values only, so that two reads of the
    same file give equal homes)."""

    file: str        # the file, as the block's spans name it
    sees: tuple      # the block names of that file's top level: its blocks and the blocks it imports
    outside: tuple   # ((name, 'parameter' or 'let'), ...): that file's top-level names, out of the block's reach


def resolve_imports(doc: SpecDoc) -> SpecDoc:
    """`doc` with the blocks its `imports:` name (and the blocks those use) added to `doc.blocks`."""
    if doc.imports:
        _Resolver().resolve(doc, ((os.path.realpath(doc.file), doc.file),))
    return doc


class _Resolver:
    def __init__(self) -> None:
        self.done: dict[str, SpecDoc] = {}  # real path -> the file's resolved SpecDoc (read once per spec)
        self.files = 0  # files read so far

    def resolve(self, doc: SpecDoc, chain: tuple) -> None:
        """Bring the imported blocks into `doc`; `chain`: (real path, file) of `doc` and the files importing it."""
        local = set(doc.blocks)
        top = {**{n: "parameter" for n in doc.params}, **{n: "let" for n, _, _ in doc.lets}}
        for entry in doc.imports:
            other = self.load(entry, chain)
            for file in (other.file, *other.origins):
                doc.origins.setdefault(file, entry.span)
            named = _named(entry, other)
            for name, block in named.items():
                span = dict(entry.names).get(name, entry.span)
                where = "a block of this spec" if name in local else f"a {top[name]} of this spec" if name in top \
                    else "an op" if _is_op(name) else None
                if where:
                    raise StructureError(f"`{name}` is imported from `{entry.path}` and is also {where}", span,
                                         hint="rename one of them, or leave it out of the import")
                self.add(doc, name, block, entry, span)
            for name, block in _needed(named, other).items():
                if name not in named:
                    self.add(doc, name, block, entry, entry.span, hidden=True)

    def add(self, doc: SpecDoc, name: str, block: BlockDef, entry: Import, span: Span, hidden: bool = False) -> None:
        held = doc.blocks.get(name)
        if held is not None and held is not block:
            what = "another block" if held.home is None else f"the block imported from `{held.home.file}`"
            needed = f"`{entry.path}` brings the block `{name}` (used by the blocks imported from it)" if hidden \
                else f"`{name}` is imported from `{entry.path}`"
            raise StructureError(f"{needed}, and this spec has {what} of that name", span,
                                 hint="each block becomes one class of the generated file: rename one of them")
        doc.blocks[name] = block
        if hidden and held is None:
            doc.hidden.add(name)
        else:
            doc.hidden.discard(name)

    def load(self, entry: Import, chain: tuple) -> SpecDoc:
        """The resolved spec file `entry` names, read once."""
        real, file = _locate(entry, chain[-1][1])
        files = [f for _, f in chain]
        if real in (r for r, _ in chain):
            loop = files[[r for r, _ in chain].index(real):] + [file]
            raise StructureError(f"import cycle: {' -> '.join(loop)}", entry.span,
                                 hint="a file cannot import itself, directly or through the files it imports")
        if real in self.done:
            return self.done[real]
        if len(chain) > current_limit("max_import_depth"):
            raise LimitError(f"imports are nested more than {current_limit('max_import_depth')} deep (the limit "
                             "`max_import_depth`)", entry.span, hint=exceeded("max_import_depth"))
        self.files += 1
        if self.files > current_limit("max_imports"):
            raise LimitError(f"the spec imports more than {current_limit('max_imports')} files (the limit "
                             "`max_imports`)", entry.span, hint=exceeded("max_imports"))
        opened = _open(real, file, entry)
        try:
            other = parse_spec(read_text(file, opened=opened), file)
            self.resolve(other, chain + ((real, file),))
        except ArchDSLError as exc:
            raise exc.with_note(f"`{file}` is imported at {entry.span}") from None
        visible = tuple(n for n in other.blocks if n not in other.hidden)
        home = Home(file, visible, tuple((n, "parameter") for n in other.params)
                    + tuple((n, "let") for n, _, _ in other.lets))
        for block in other.blocks.values():
            if block.home is None:
                block.home = home
        self.done[real] = other
        return other


def _locate(entry: Import, importer: str) -> tuple[str, str]:
    """(real path, path as the errors name it) of the file `entry` names; a located error where it may not be read."""
    path, span = entry.path, entry.span
    if "\0" in path or not path.strip():
        raise FileError(f"`{path!r}` is not a file name", span, hint="name a spec file beside this one")
    if os.path.isabs(path) or path.startswith(("/", "\\", "~")) or os.path.splitdrive(path)[0]:
        raise FileError(f"cannot import `{path}`: an imported file is named relative to the importing spec", span,
                        hint="write the path from this spec's folder, e.g. `blocks/heads.yaml`")
    if not path.endswith(SUFFIXES):
        raise FileError(f"cannot import `{path}`: an imported file is a spec (.yaml or .yml)", span)
    folder = os.path.realpath(os.path.dirname(os.path.abspath(importer)))
    real = os.path.realpath(os.path.join(folder, path))
    if os.path.commonpath([folder, real]) != folder:
        how = "through a symbolic link " if ".." not in path.replace("\\", "/").split("/") else ""
        raise FileError(f"cannot import `{path}`: it leads {how}out of the importing spec's folder {folder}", span,
                        hint="an imported file lies in the importing spec's folder or below it")
    return real, os.path.normpath(os.path.join(os.path.dirname(importer), path))


def _open(real: str, file: str, entry: Import):
    """The file, opened for reading without following a link or waiting on a FIFO; only a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise FileError(f"cannot import `{entry.path}`: {exc.strerror or exc}", entry.span,
                        hint=f"check that `{file}` exists beside this spec") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise FileError(f"cannot import `{entry.path}`: it is {kind}", entry.span, hint="name a spec file")
    return os.fdopen(fd, "rb")


def _named(entry: Import, other: SpecDoc) -> dict:
    """The blocks `entry` names, from the top level of `other`."""
    visible = [n for n in other.blocks if n not in other.hidden]
    if entry.star:
        if not visible:
            raise StructureError(f"`{entry.path}` has no blocks to import", entry.span)
        return {n: other.blocks[n] for n in visible}
    out = {}
    for name, span in entry.names:
        if name not in visible:
            raise NameError_(f"`{entry.path}` has no block `{name}`", span,
                             hint=did_you_mean(name, visible) or f"its blocks: {', '.join(visible) or '(none)'}")
        out[name] = other.blocks[name]
    return out


def _needed(named: dict, other: SpecDoc) -> dict:
    """The named blocks and every block of `other` they use, through the blocks those use."""
    out, todo = {}, list(named.items())
    while todo:
        name, block = todo.pop()
        if name in out:
            continue
        out[name] = block
        sees = set(block.home.sees) if block.home is not None else set()
        todo += [(n, other.blocks[n]) for n in _uses(block) & sees if n in other.blocks]
    return out


def _uses(block: BlockDef) -> set:
    """The names a block's expressions read (a superset of the blocks it uses)."""
    parts = [[d for _, d, _ in block.params if d is not REQUIRED], [n for _, n, _ in block.lets],
             [n for _, n, _ in block.layers], block.forward]
    return {n.id for n in _names_in(parts)}


def _is_op(name: str) -> bool:
    from .. import ops  # noqa: F401  (registers the ops)
    from ..ops.registry import REGISTRY

    return name in REGISTRY.names()
