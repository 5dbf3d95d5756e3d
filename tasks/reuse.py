"""Skip a comparison whose work is already done (see ``bnpipe.reuse``)."""

from __future__ import annotations

import dataclasses

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import keys, links, reuse, tracking
from bnpipe.catalog import DatasetSpec
from bnpipe.ingest import Snapshot
from bnpipe.params import RunConfig
from bnpipe.results import ComparisonResult
from bnpipe.settings import Settings
from bnpipe.tracking import ParentRun


def comparison_key(spec: DatasetSpec, snap: Snapshot, config: RunConfig, settings: Settings) -> str:
    """The data's bytes, the catalog entry, the suite, the resolved parameters, the code."""
    return keys.dataset_key("comparison", spec, snap.sha256, config, settings.expectations_dir)


@task(name="find-unchanged", cache_policy=NO_CACHE)
def find_unchanged(
    spec: DatasetSpec, key: str, settings: Settings, register: bool
) -> ComparisonResult | None:
    """The outcome of an earlier FINISHED comparison with this key (it trained the
    same models on the same bytes), or None: then this one trains. Reads only:
    opens no run and creates no experiment."""
    client = tracking.connect(settings.tracking_uri)
    experiment = client.get_experiment_by_name(tracking.experiment_name(spec.name))
    if experiment is None:
        return None
    earlier = reuse.find_finished(client, experiment.experiment_id, key, registered=register)
    if earlier is None:
        return None
    link = links.run_page(links.ui_base(settings), experiment.experiment_id, earlier.run_id)
    result = dataclasses.replace(reuse.unchanged(earlier, key, link), links={"parent": link})
    get_run_logger().info("%s", result.reused.message)
    return result


def keep_result(parent: ParentRun, result: ComparisonResult) -> None:
    """The outcome as data on the parent run, for a later run with the same key."""
    parent.log_json(result.to_dict(), reuse.RESULT_FILE)
