"""Standard processes in process (no server): null and NaN at the JSON boundary, argument
checks against the official specs, the graph walk on large and deep graphs, the registry."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend import executor
from core import errors
from core.settings import GraphLimits, Settings
from formats.json_value import to_json_value
from processes import registry
from processes.context import ExecutionContext
from sources.catalog import Catalog

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def catalog(demo_catalog: Path) -> Catalog:
    return Catalog(Settings.from_env(stac_url=str(demo_catalog)))


def _one(process_id: str, **arguments) -> dict:
    return {"n": {"process_id": process_id, "arguments": arguments, "result": True}}


def value(catalog: Catalog, graph: dict, limits: GraphLimits | None = None):
    """The JSON a synchronous request would answer with."""
    ctx = ExecutionContext(catalog, limits=limits or GraphLimits())
    return to_json_value(executor.evaluate(graph, ctx))


def error(catalog: Catalog, graph: dict, limits: GraphLimits | None = None) -> errors.OpenEOError:
    with pytest.raises(errors.OpenEOError) as caught:
        value(catalog, graph, limits)
    assert caught.value.status < 500, caught.value.message
    return caught.value


NULL_CASES = [
    ("add", {"x": None, "y": 1}, None),
    ("absolute", {"x": None}, None),
    ("max", {"data": [1, None, 3]}, 3),
    ("max", {"data": [1, None, 3], "ignore_nodata": False}, None),
    ("mean", {"data": [1, None, 3]}, 2),
    ("sum", {"data": []}, None),
    ("max", {"data": []}, None),
    ("first", {"data": [None, "A", "B"]}, "A"),
    ("last", {"data": ["A", "B", None]}, "B"),
    ("eq", {"x": None, "y": 1}, None),
    ("gt", {"x": 2, "y": None}, None),
    ("gt", {"x": "b", "y": "a"}, False),
    ("gte", {"x": 1, "y": "1"}, False),
    ("between", {"x": "0.5", "min": 0, "max": 1}, False),
    ("and", {"x": None, "y": False}, False),
    ("and", {"x": None, "y": True}, None),
    ("or", {"x": None, "y": True}, True),
    ("not", {"x": None}, None),
    ("is_nan", {"x": None}, True),
    ("is_nan", {"x": "text"}, True),
    ("is_nan", {"x": 1.5}, False),
    ("if", {"value": None, "accept": "A", "reject": "B"}, "B"),
    ("power", {"base": None, "p": 0}, None),
    ("text_concat", {"data": [None, True, 1, -1.5, "ß"], "separator": "|"}, "null|true|1|-1.5|ß"),
    ("array_find", {"data": [1, 2, 3], "value": "2"}, None),
    ("array_find", {"data": [False, False], "value": False, "reverse": True}, 1),
    ("array_find", {"data": [[1, 2], [3, 4]], "value": 2}, None),
    ("quantiles", {"data": [], "probabilities": [0.1, 0.5]}, [None, None]),
    ("arcsin", {"x": 2}, None),  # outside the domain: NaN, which JSON writes as null
    ("all", {"data": []}, None),
    ("array_labels", {"data": ["2020-01-01", "2021-01-01"]}, [0, 1]),
    ("array_element", {"data": ["2020-01-01", "2021-01-01"], "index": 1}, "2021-01-01"),
]


@pytest.mark.parametrize(
    ("pid", "arguments", "expected"),
    NULL_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(NULL_CASES)],
)
def test_null_and_nodata_follow_the_specs(catalog, pid, arguments, expected):
    got = value(catalog, _one(pid, **arguments))
    if isinstance(expected, float | int) and not isinstance(expected, bool):
        assert got == pytest.approx(expected)
    else:
        assert got == expected and type(got) is type(expected), got


def test_booleans_and_integers_come_back_typed(catalog):
    assert value(catalog, _one("gt", x=2, y=1)) is True
    assert value(catalog, _one("and", x=True, y=False)) is False
    assert value(catalog, _one("array_find", data=[1, 2, 3, 2], value=2)) == 1
    assert json.dumps(value(catalog, _one("eq", x=1, y=1))) == "true"


def test_a_zero_divisor_is_an_openeo_error(catalog):
    assert error(catalog, _one("mod", x=2, y=0)).code == "DivisionByZero"


# A value of another JSON type for each kind of parameter schema.
WRONG = {"number": "abc", "integer": 1.5, "boolean": "yes", "string": 5, "array": 7, "object": 3}
RIGHT = {"number": 1, "integer": 1, "boolean": True, "string": "a", "array": [1], "object": {}}


def _plain_kind(schema) -> str | None:
    """The one JSON type a schema allows (besides null), or None when it allows several."""
    alternatives = schema if isinstance(schema, list) else [schema]
    kinds = set()
    for alt in alternatives:
        kind = alt.get("type")
        kinds |= set(kind if isinstance(kind, list) else [kind] if kind else ["any"])
        if alt.get("subtype") in ("process-graph", "datacube", "raster-cube", "vector-cube"):
            kinds.add("any")
    kinds.discard("null")
    return kinds.pop() if len(kinds) == 1 and kinds <= set(WRONG) else None


def _typed_parameters():
    for spec in registry.specs():
        for param in spec.get("parameters", []):
            kind = _plain_kind(param.get("schema", {}))
            if kind:
                yield spec["id"], param["name"], kind


TYPED = sorted(_typed_parameters())


def test_the_specs_have_parameters_of_every_plain_type():
    assert {kind for _, _, kind in TYPED} == set(WRONG)
    assert len(TYPED) > 150


@pytest.mark.parametrize(("pid", "name", "kind"), TYPED, ids=[f"{p}.{n}" for p, n, _ in TYPED])
def test_a_wrong_type_is_invalid_naming_the_parameter(catalog, pid, name, kind):
    """Before anything runs: validation names the parameter, evaluation refuses the graph
    (naming the first wrong parameter: another one may be a cube that no literal can be)."""
    spec = registry.spec(pid)
    args = {
        p["name"]: RIGHT.get(_plain_kind(p.get("schema", {})), 1)
        for p in spec["parameters"]
        if not p.get("optional") and "default" not in p
    }
    args[name] = WRONG[kind]
    graph = _one(pid, **args)
    found = executor.validate(graph, catalog)
    assert any(e.code == "ProcessParameterInvalid" and f"'{name}'" in e.message for e in found), [
        e.message for e in found
    ]
    assert error(catalog, graph).code == "ProcessParameterInvalid"


def test_a_wrong_type_from_the_issue(catalog):
    err = error(catalog, _one("absolute", x="abc"))
    assert err.status == 400 and "'x'" in err.message and "number" in err.message


def test_a_chain_of_2000_nodes_is_computed(catalog):
    graph = {"n0": {"process_id": "add", "arguments": {"x": 0, "y": 1}}}
    for i in range(1, 2000):
        graph[f"n{i}"] = {
            "process_id": "add",
            "arguments": {"x": {"from_node": f"n{i - 1}"}, "y": 1},
        }
    graph["n1999"]["result"] = True
    assert value(catalog, graph) == 2000


def test_too_many_nodes_or_too_deep_nesting_is_refused_before_parsing(catalog):
    wide = {f"n{i}": {"process_id": "add", "arguments": {"x": i, "y": 1}} for i in range(5000)}
    wide["n0"]["result"] = True
    assert error(catalog, wide, GraphLimits(max_nodes=1000)).code == "ProcessGraphComplexity"
    assert value(catalog, wide) == 1  # within the default limit it is evaluated

    inner: dict = {
        "x": {"process_id": "absolute", "arguments": {"x": {"from_parameter": "x"}}, "result": True}
    }
    for _ in range(200):
        inner = {
            "a": {
                "process_id": "array_apply",
                "arguments": {"data": [1], "process": {"process_graph": inner}},
                "result": True,
            }
        }
    assert error(catalog, inner).code == "ProcessGraphComplexity"
    # Nesting within the limit works: the innermost doubles x, each level hands it back.
    graph: dict = {
        "x": {
            "process_id": "multiply",
            "arguments": {"x": {"from_parameter": "x"}, "y": 2},
            "result": True,
        }
    }
    for _ in range(3):
        graph = {
            "a": {
                "process_id": "array_apply",
                "arguments": {
                    "data": [{"from_parameter": "x"}],
                    "process": {"process_graph": graph},
                },
            },
            "f": {"process_id": "first", "arguments": {"data": {"from_node": "a"}}, "result": True},
        }
    outer = {
        "a": {
            "process_id": "array_apply",
            "arguments": {"data": [1, 2], "process": {"process_graph": graph}},
            "result": True,
        }
    }
    assert value(catalog, outer) == [2, 4]


def test_a_parameter_that_is_not_defined_is_a_graph_error(catalog):
    graph = _one("absolute", x={"from_parameter": "nothing"})
    assert error(catalog, graph).code == "ProcessGraphInvalid"


def test_every_spec_has_code_and_every_code_a_spec():
    reg = registry.registry()
    official = registry.official_specs()
    own = {json.loads(p.read_text())["id"] for p in (REPO / "specs").glob("*.json")}
    for pid, proc in reg.items():
        assert proc.spec["id"] == pid
        assert pid in official or pid in own, f"{pid} has no spec"
        if pid in official:
            assert (
                proc.spec["version"]
                == (REPO / "specs/openeo-processes/VERSION").read_text().strip()
            )
    assert set(registry.OWN) == own  # one @declare per spec file, no more
    from processes.standard import OVERRIDES

    assert set(OVERRIDES) <= set(reg), "an override of a process that is not offered"


def test_every_spec_parameter_is_taken_by_the_code():
    for pid, proc in registry.registry().items():
        sig = inspect.signature(proc.implementation)
        if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            continue
        names = set(sig.parameters)
        missing = [p["name"] for p in proc.spec.get("parameters", []) if p["name"] not in names]
        assert not missing, f"{pid} does not take {missing}"


def test_lists_of_arrays_reduce_element_wise():
    """sum([x, y]) in a callback that sees whole chunks is a per-pixel sum."""
    call = registry.caller()
    from processes.graph import run

    graph = {
        "s": {
            "process_id": "sum",
            "arguments": {"data": [{"from_parameter": "a"}, {"from_parameter": "b"}, 1]},
            "result": True,
        }
    }
    got = run(graph, call, {"a": np.array([1.0, 2.0]), "b": np.array([10.0, np.nan])})
    np.testing.assert_allclose(got, [12.0, 3.0])
    graph = {
        "m": {"process_id": "max", "arguments": {"data": [{"from_parameter": "d"}]}, "result": True}
    }
    assert run(graph, call, {"d": np.array([1.0, 5.0, 2.0])}) == 5.0


def test_aggregate_temporal_takes_intervals_as_given(catalog):
    """Unsorted, overlapping and empty intervals (upstream raises or bins them away)."""
    box = {"west": 679720, "east": 679920, "south": 5151080, "north": 5151280, "crs": 32632}
    mean = {
        "process_graph": {
            "m": {
                "process_id": "mean",
                "arguments": {"data": {"from_parameter": "data"}},
                "result": True,
            }
        }
    }
    intervals = [
        ["2022-06-06", "2022-06-12"],
        ["2030-01-01", "2030-02-01"],
        ["2022-06-01", "2022-06-09"],
    ]
    graph = {
        "l": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": box,
                "bands": ["B04"],
                "temporal_extent": ["2022-06-01", "2022-06-12"],
            },
        },
        "a": {
            "process_id": "aggregate_temporal",
            "arguments": {"data": {"from_node": "l"}, "intervals": intervals, "reducer": mean},
            "result": True,
        },
    }
    ctx = ExecutionContext(catalog)
    got = executor.evaluate(graph, ctx).compute()
    cube = catalog.load("SENTINEL2_L2A", box, ["2022-06-01", "2022-06-12"], ["B04"]).compute()
    assert [str(t)[:10] for t in got["t"].values] == ["2022-06-06", "2030-01-01", "2022-06-01"]
    for k, (start, end) in enumerate(intervals):
        part = cube.sel(t=slice(start, end)).where(cube["t"] < np.datetime64(end), drop=True)
        if part.sizes["t"]:
            np.testing.assert_allclose(got.isel(t=k).values, part.mean("t").values, rtol=1e-6)
        else:
            assert np.isnan(got.isel(t=k).values).all()
    bad = {**graph["a"]["arguments"], "labels": ["a", "b"]}
    assert (
        error(
            catalog,
            {
                "l": graph["l"],
                "a": {"process_id": "aggregate_temporal", "arguments": bad, "result": True},
            },
        ).code
        == "ProcessParameterInvalid"
    )


def test_apply_dimension_keeps_labels_and_lends_them_to_the_callback(catalog):
    """Labels stay where as many values come back; array_element(label=...) works inside;
    order over a cube axis keeps the cube rectangular (WP6 cases, in process)."""
    box = {"west": 679720, "east": 679820, "south": 5151080, "north": 5151180, "crs": 32632}
    load = {
        "process_id": "load_collection",
        "arguments": {
            "id": "SENTINEL2_L2A",
            "spatial_extent": box,
            "bands": ["B04", "B08"],
            "temporal_extent": ["2022-06-01", "2022-06-02"],
        },
    }

    def applied(callback: dict) -> Any:
        graph = {
            "l": load,
            "a": {
                "process_id": "apply_dimension",
                "arguments": {
                    "data": {"from_node": "l"},
                    "dimension": "bands",
                    "process": {"process_graph": callback},
                },
                "result": True,
            },
        }
        return executor.evaluate(graph, ExecutionContext(catalog)).compute()

    data = {"from_parameter": "data"}
    q = applied(
        {
            "q": {
                "process_id": "quantiles",
                "arguments": {"data": data, "probabilities": [0.5, 0.75]},
                "result": True,
            }
        }
    )
    assert list(q["bands"].values) == ["B04", "B08"]
    nd = applied(
        {
            "r": {"process_id": "array_element", "arguments": {"data": data, "label": "B04"}},
            "n": {"process_id": "array_element", "arguments": {"data": data, "label": "B08"}},
            "d": {
                "process_id": "normalized_difference",
                "arguments": {"x": {"from_node": "n"}, "y": {"from_node": "r"}},
            },
            "c": {
                "process_id": "array_concat",
                "arguments": {"array1": data, "array2": [{"from_node": "d"}]},
                "result": True,
            },
        }
    )
    assert list(nd["bands"].values) == [0, 1, 2]
    red, nir = nd.isel(bands=0).values, nd.isel(bands=1).values
    np.testing.assert_allclose(nd.isel(bands=2).values, (nir - red) / (nir + red), rtol=1e-5)
    o = applied({"o": {"process_id": "order", "arguments": {"data": data}, "result": True}})
    assert o.sizes["bands"] == 2 and set(np.unique(o.values)) <= {0.0, 1.0}


@pytest.mark.parametrize(
    ("process_id", "arguments", "expected"),
    [
        ("gt", {"x": float("nan"), "y": 1}, False),
        ("lte", {"x": 1, "y": float("nan")}, False),
        ("eq", {"x": float("nan"), "y": float("nan")}, False),
        ("neq", {"x": float("nan"), "y": 1}, True),
        ("eq", {"x": None, "y": float("nan")}, None),
        ("add", {"x": float("nan"), "y": None}, None),
        ("ceil", {"x": None}, None),
        ("and", {"x": None, "y": False}, False),
        ("or", {"x": None, "y": True}, True),
    ],
)
def test_nan_is_a_number_and_null_is_no_data(catalog, process_id, arguments, expected):
    """In process (JSON has no NaN): NaN compares as IEEE 754 says, null gives null where
    the spec passes no-data through, and logic keeps its truth tables."""
    got = executor.evaluate(_one(process_id, **arguments), ExecutionContext(catalog))
    assert got is expected or got == expected, got


def test_nan_stays_nan_where_null_would_be_null(catalog):
    got = executor.evaluate(_one("absolute", x=float("nan")), ExecutionContext(catalog))
    assert isinstance(got, float) and np.isnan(got)
