"""The pandas side of the feature-store benchmark.

Reads the data `unidb features bench --write-npy DIR` generated (the same
seeded views and entity rows unidb joined), runs the point-in-time join
with pandas `merge_asof` (by entity, backward, tolerance = the views' TTL)
and checks every joined value against unidb's output in the same
directory. Prints one JSON object.

    python pandas_join.py DIR
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main(d: Path) -> None:
    meta = json.loads((d / "meta.json").read_text())
    if meta["known_at"]:
        sys.exit("merge_asof has no bitemporal filter: generate without --known-at")
    views, features = meta["views"], meta["features"]
    ttl = pd.Timedelta(meta["ttl_ns"], unit="ns")

    entities = pd.DataFrame(
        {
            "entity_id": np.load(d / "entities_entity_id.npy"),
            "ts": np.load(d / "entities_ts.npy").astype("datetime64[ns]"),
        }
    )
    entities["row"] = np.arange(len(entities))
    rights = []
    for v in range(views):
        cols = {
            "entity_id": np.load(d / f"v{v}_entity_id.npy"),
            "event": np.load(d / f"v{v}_event.npy").astype("datetime64[ns]"),
            "created": np.load(d / f"v{v}_created.npy"),
        }
        for f in range(features):
            cols[f"v{v}__f{f}"] = np.load(d / f"v{v}_f{f}.npy")
        # Sorted by (event, created) outside the timing, as unidb sorts
        # at ingestion: among equal event times merge_asof takes the last
        # row, the latest created one, as unidb's rule does.
        right = pd.DataFrame(cols).sort_values(["event", "created"], kind="stable")
        rights.append(right.drop(columns=["created"]))

    start, cpu = time.perf_counter(), time.process_time()
    left = entities.sort_values("ts", kind="stable")
    for right in rights:
        left = pd.merge_asof(
            left,
            right,
            left_on="ts",
            right_on="event",
            by="entity_id",
            direction="backward",
            tolerance=ttl,
            allow_exact_matches=True,
        ).drop(columns=["event"])
    left = left.sort_values("row", kind="stable")
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu

    mismatches = 0
    for v in range(views):
        for f in range(features):
            ours = np.load(d / f"out_v{v}_f{f}.npy")
            theirs = left[f"v{v}__f{f}"].to_numpy()
            same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
            mismatches += int((~same).sum())
    print(
        json.dumps(
            {
                "peer": f"pandas {pd.__version__} merge_asof",
                "entity_rows": len(entities),
                "views": views,
                "join_s": seconds,
                "join_rows_per_s": len(entities) / seconds,
                "join_cpu_s": cpu,
                "values_compared": len(entities) * views * features,
                "mismatches": mismatches,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
