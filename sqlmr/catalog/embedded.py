"""The embedded default dataset: Amplab tables generated on first use into the user's cache.

It lets `sqlmr query` answer on a fresh machine with no data and no AWS account. Generation is
deterministic and goes to a temporary folder that is renamed into place, so concurrent first
uses never see a half-written dataset.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DATASET = "amplab-tiny-seed0-v1"


def cache_dir() -> Path:
    """sqlmr's cache folder: $SQLMR_CACHE, else $XDG_CACHE_HOME/sqlmr, else ~/.cache/sqlmr."""
    if os.environ.get("SQLMR_CACHE"):
        return Path(os.environ["SQLMR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "sqlmr"


def default_tables_dir() -> str:
    """The folder of the embedded Amplab dataset, generated if it is not there yet."""
    target = cache_dir() / DATASET
    if (target / "uservisits").is_dir() and (target / "rankings").is_dir():
        return str(target)
    from sqlmr.datagen.amplab import generate

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DATASET}-", dir=target.parent))
    try:
        generate(tmp, scale="tiny", seed=0, workers=1)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "uservisits").is_dir():  # someone else won the race, or a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)
