"""``bnpipe datasets``, ``bnpipe validate`` and ``bnpipe dataset init``: the
catalog's datasets, listed, checked and added; and the lookup of a dataset by
name that every command shares."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from bnpipe.ops import interrupts
from bnpipe.ops.cli.errors import UsageError
from bnpipe.settings import Settings


def catalog(settings: Settings):
    from bnpipe.catalog import load_catalog

    return load_catalog(settings.catalog_path)


def spec_of(settings: Settings, name: str):
    """The catalog entry ``name``; an unknown name is a usage error."""
    from bnpipe.catalog import UnknownDatasetError, get_spec

    try:
        return get_spec(catalog(settings), name)
    except UnknownDatasetError as exc:
        raise UsageError(str(exc)) from None


def cmd_datasets(args, settings: Settings) -> int:
    entries = catalog(settings)
    width = max((len(n) for n in entries), default=4)
    for name, spec in entries.items():
        print(
            f"{name:<{width}}  {spec.task:<14}  target={spec.target:<8}  {len(spec.features)} features  {spec.description}"
        )
    return 0


def cmd_validate(args, settings: Settings) -> int:
    """The suite and the catalog's missing-value policy, as a run checks them."""
    from bnpipe import ingest
    from bnpipe.data_checks import check_data

    spec = spec_of(settings, args.dataset)
    snap = ingest.download(
        spec,
        ingest.DataCache(settings.cache_dir),
        **settings.download_options(),
        offline=args.offline,
        promote=False,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(f"{spec.name}: {snap.url} sha256 {snap.sha256} ({snap.size} bytes)")
    report = check_data(ingest.read_csv(snap.path, sep=spec.sep), spec, settings)
    print(report.summary())
    # Validating alone does not make the last good copy: only a completed run does.
    return 0 if report.success else 1


def cmd_dataset_init(args, settings: Settings) -> int:
    """Draft a catalog entry and a suite from a CSV (:func:`bnpipe.drafting.draft_dataset`),
    with the reasons for each column's role as comments in the entry.

    All or nothing: the suite and the catalog are each written whole (a temporary
    file replaced), and an init that fails or is interrupted (Ctrl-C, SIGTERM)
    before it is done removes the suite it wrote and puts the catalog back."""
    from bnpipe.catalog import load_catalog, name_problem

    if problem := name_problem(args.name):  # before a download, a file name or a lookup
        raise UsageError(f"dataset {args.name!r}: {problem}")
    existing = load_catalog(settings.catalog_path) if settings.catalog_path.exists() else {}
    if args.name in existing:
        raise UsageError(f"dataset {args.name!r} is already in {settings.catalog_path}")
    suite_path = settings.expectations_dir / f"{args.name}.json"
    if suite_path.exists():
        raise UsageError(f"{suite_path} exists already; remove it or choose another name")
    undo = _Undo(settings.catalog_path, suite_path)
    try:
        draft = _draft(args, settings)
        expectations = _write_draft(draft, suite_path, settings)
    except BaseException as exc:
        with interrupts.held():  # a second Ctrl-C does not cut the clean-up short
            undo()
        if isinstance(exc, KeyboardInterrupt):
            shown = f"{settings.catalog_path.name} and {suite_path.parent.name}/"
            exc.aftermath = f"nothing written ({shown} as they were)"  # type: ignore[attr-defined]
        raise
    _print_draft(draft, suite_path, expectations, settings)
    return 0


def _draft(args, settings: Settings):
    from bnpipe import drafting

    try:
        return drafting.draft_dataset(
            args.name,
            args.url,
            target=args.target,
            task=args.task,
            exclude=args.exclude,
            description=args.description,
            source=str(settings.catalog_path),
            timeout=settings.download_timeout,
            max_bytes=settings.max_download_bytes,
        )
    except drafting.DraftError as exc:
        raise UsageError(str(exc)) from None


def _write_draft(draft, suite_path: Path, settings: Settings) -> int:
    """Write the suite, check it on its own data, then add the entry; the count of
    expectations evaluated."""
    from bnpipe import validation
    from bnpipe.catalog import append_entry

    validation.write_suite(draft.suite, suite_path)
    frame, name = draft.frame, draft.spec.name
    print(
        f"{name}: checking {len(draft.suite['expectations'])} drafted expectations on "
        f"{len(frame)} rows x {frame.shape[1]} columns",
        file=sys.stderr,
        flush=True,
    )
    report = validation.validate(frame, suite_path, name)
    interrupts.check()  # a signal a library swallowed: stop before the catalog
    if not report.success:
        raise RuntimeError(f"the drafted suite does not pass on its own data:\n{report.summary()}")
    comments, notes = draft.entry_comments(_shown(suite_path, settings))
    append_entry(settings.catalog_path, draft.spec, comments=comments, notes=notes)
    return report.evaluated


class _Undo:
    """Put back what an init wrote: the catalog's bytes as they were (or no
    catalog), no suite, no expectations folder it made."""

    def __init__(self, catalog: Path, suite: Path) -> None:
        self.catalog, self.suite = catalog, suite
        self.before = catalog.read_bytes() if catalog.exists() else None
        self.made = [d for d in (suite.parent, *suite.parent.parents) if not d.exists()]

    def __call__(self) -> None:
        from bnpipe.files import write_atomically

        self.suite.unlink(missing_ok=True)
        for folder in self.made:  # innermost first
            with contextlib.suppress(OSError):  # not empty: someone else's files
                folder.rmdir()
        if self.before is None:
            self.catalog.unlink(missing_ok=True)
        elif not self.catalog.exists() or self.catalog.read_bytes() != self.before:
            write_atomically(self.catalog, self.before)


def _shown(suite_path: Path, settings: Settings) -> str:
    """expectations/flats.json, relative to the catalog: no machine's path in it."""
    try:
        return str(suite_path.resolve().relative_to(settings.catalog_path.parent.resolve()))
    except ValueError:
        return f"{settings.expectations_dir.name}/{suite_path.name}"


def _print_draft(draft, suite_path: Path, expectations: int, settings: Settings) -> None:
    spec, profile = draft.spec, draft.profile
    print(f"{spec.name}: {profile.rows} rows, {len(profile.columns)} columns")
    for line in profile.summary():
        print(line)
    print(f"defaults: {draft.defaults.summary()} (bnpipe run's flags override them)")
    for line in draft.leak_lines():  # kept in the entry: a person decides; a run holds
        print(f"warning: {line}")
    if draft.leaks:
        from bnpipe.leaks import drop_hint

        print(f"  {drop_hint(draft.leaks)}; until then a run is held for review")
    categorical = profile.categorical
    print(
        f"added {spec.name!r} to {settings.catalog_path}: {spec.task}, target {spec.target!r}, {len(spec.features)} features ({len(categorical)} categorical: {', '.join(categorical) or 'none'})"
    )
    print(
        f"drafted {suite_path} with {expectations} expectations; review its ranges and value sets, then: bnpipe run {spec.name}"
    )
