"""``bnpipe promote`` and ``bnpipe predict``: a registered version made @champion
after a review, and raw CSV rows scored with the champion."""

from __future__ import annotations

import sys

from bnpipe.ops.cli.datasets import spec_of
from bnpipe.ops.cli.environment import offline_env
from bnpipe.ops.cli.errors import DataError, UsageError
from bnpipe.settings import Settings


def cmd_promote(args, settings: Settings) -> int:
    import getpass

    from bnpipe import registry, tracking

    spec = spec_of(settings, args.dataset)
    client = tracking.connect(settings.tracking_uri)
    name = tracking.registered_model_name(spec.name)
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    try:
        record = registry.promote_by_hand(client, name, args.version, reason=args.reason, who=who)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    before = record["previous_champion"]
    print(
        f"{name} v{args.version} is @champion now"
        f"{f' (was v{before})' if before else ''}; recorded on the version: "
        f"by {record['promoted_by']} at {record['promoted_at']}, reason: {record['promotion_reason']}"
    )
    return 0


def cmd_predict(args, settings: Settings) -> int:
    import numpy as np
    import pandas as pd

    from bnpipe import tracking
    from bnpipe.features.cells import same_names, spellings

    spec = spec_of(settings, args.dataset)
    # categorical and date cells stay text (the signature types them "string"), under
    # either Unicode spelling of their header (NFC or NFD)
    text = dict.fromkeys([s for c in (*spec.categorical, *spec.dates) for s in spellings(c)], str)
    try:
        rows = pd.read_csv(args.input, encoding="utf-8-sig", sep=spec.sep, dtype=text)
    except pd.errors.EmptyDataError:
        raise DataError(f"{args.input}: an empty file, without even a header") from None
    named = rows.rename(columns=same_names(rows.columns, spec.features))  # NFD headers too
    missing = [c for c in spec.features if c not in named.columns]
    if missing:
        hint = (
            f" (its header is one column: is the file separated by {spec.sep!r}?)"
            if len(rows.columns) == 1 and len(spec.features) > 1
            else ""
        )
        raise DataError(
            f"{args.input}: missing required column(s) for {spec.name}: {', '.join(missing)}{hint}"
        )
    if rows.empty:
        raise DataError(f"{args.input}: a header and no rows")
    offline_env(settings)
    tracking.connect(settings.tracking_uri)
    import mlflow

    from bnpipe import serving

    name = tracking.registered_model_name(spec.name)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    except Exception as exc:  # noqa: BLE001
        raise DataError(
            f"no champion for {spec.name}: models:/{name}@champion cannot be loaded ({str(exc).splitlines()[0]}); run `bnpipe run {spec.name}` first"
        ) from None
    features = named[list(spec.features)]
    features.index = pd.RangeIndex(2, len(features) + 2)  # messages name rows by file line
    try:
        # the champion's own policy: impute fills blanks, error refuses them by row;
        # inf, and values beyond float32 (1e39), are refused by row
        features = serving.prepare_rows(model, features)
    except ValueError as exc:
        raise DataError(
            f"{args.input}: {exc} (rows are line numbers of the file; the header is line 1)"
        ) from None
    predictions = model.predict(features)
    numbers = predictions.select_dtypes("number").to_numpy(dtype=np.float64)
    unscored = features.index[~np.isfinite(numbers).all(axis=1)] if numbers.size else []
    if len(unscored):
        shown = ", ".join(map(str, unscored[:5])) + (" ..." if len(unscored) > 5 else "")
        print(
            f"bnpipe: warning: {args.input}: {len(unscored)} row(s) scored as non-finite "
            f"numbers (values too large for the network?): lines {shown}",
            file=sys.stderr,
        )
    out = pd.concat([rows.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    if args.output:
        out.to_csv(args.output, index=False)
        print(f"wrote {len(out)} rows to {args.output} ({name}@champion)")
    else:
        out.to_csv(sys.stdout, index=False)
    return 0
