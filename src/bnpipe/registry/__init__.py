"""The model registry and the champion rule.

After each comparison the leading variant's best seed is registered as a new
version of ``bnpipe-<dataset>``. It becomes ``@champion`` only when it beats the
current champion on *today's* test rows: both models score the same rows and a
row-level paired bootstrap of (challenger − champion) on the primary metric must
exclude 0 on the challenger's side (``stats.challenger_wins``). The first
version becomes champion when there is none, and no version whose variant does
not beat the trivial baseline (``bnpipe.references``) ever does.

Today's rows are not trusted alone: whatever produced bad rows also trained the
challenger that wins on them. A promotion is **held** (registered, not made
champion, the reason recorded) when a person should look first: the data
drifted beyond the catalog's block level from the champion's data, or the
champion scores far off its own record (outside the 95% interval of its score
on its own test rows, kept on its version as ``score_ci_low``/``score_ci_high``).
``promote_by_hand`` moves the alias after such a review.

Registration and the alias move are all-or-nothing: the alias moves last, and a
failure after the version was created deletes that version again, so the old
champion stays. A file lock serialises concurrent flow runs of one dataset on
this machine, so two runs cannot both read the same champion and race.
"""

from __future__ import annotations

from bnpipe.registry.challenge import leading_seed, register_challenger
from bnpipe.registry.decision import (
    Decision,
    decide,
    decision_json,
    hold,
    hold_reasons,
    off_its_record,
)
from bnpipe.registry.descriptions import (
    model_description,
    promoted_by_hand_description,
    version_description,
)
from bnpipe.registry.scoring import champion_model, conform, prediction_array
from bnpipe.registry.versions import (
    CHAMPION,
    ChampionMoved,
    current_champion,
    promote_by_hand,
    register,
    registry_lock,
)

__all__ = [
    "CHAMPION",
    "ChampionMoved",
    "Decision",
    "champion_model",
    "conform",
    "current_champion",
    "decide",
    "decision_json",
    "hold",
    "hold_reasons",
    "leading_seed",
    "model_description",
    "off_its_record",
    "prediction_array",
    "promote_by_hand",
    "promoted_by_hand_description",
    "register",
    "register_challenger",
    "registry_lock",
    "version_description",
]
