# A time-series UDF of the openEO UDF API: each pixel's series as a pandas Series.
import pandas as pd


def apply_timeseries(series: pd.Series, context: dict) -> pd.Series:
    return series - series.mean()
