"""TestState of Map and Parallel states (they need a mock, as on AWS).

The state's input processing runs for real: InputPath, ItemsPath or
``Items``, ItemReader over ``stateConfiguration.mapItemReaderData`` (the
object's content as found in its source), ItemSelector, ItemBatcher,
MaxConcurrency and the tolerated failure thresholds, each reported at DEBUG
and TRACE (``afterInputPath``, ``afterItemsPath``, ``afterItemSelector``,
``afterItemBatcher``, ``maxConcurrency``, ``toleratedFailureCount``,
``toleratedFailurePercentage``). The iterations or branches do not run: the
mock's ``result`` is what they returned (an array: one element per branch of
a Parallel; a JSON object for a Map with a ResultWriter), or its
``errorOutput`` is the error one of them raised (``errorCausedByState``).
``mapIterationFailureCount`` iterations count as failed against the Map's
tolerated failure thresholds (States.ExceedToleratedFailureThreshold).
Then ResultSelector, ResultPath and OutputPath (JSONPath) or Output and
Assign (JSONata) shape the result, and Retry/Catch apply to errors.
"""

from __future__ import annotations

import csv
import io
import json

from services.stepfunctions import interpreter as I
from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl import jsonata_eval as JE
from services.stepfunctions.asl import jsonpath as JP
from services.stepfunctions.asl import payload as P
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.errors import validation
from services.stepfunctions.mapruns import THRESHOLD_CAUSE


def check_mock(st, mock: dict, config: dict) -> None:
    """ValidationException for a mock that cannot stand for this Map/Parallel state."""
    if "result" not in mock:
        return
    try:
        result = JP.from_json(mock["result"])
    except Exception:
        raise validation("Mocked result must be valid JSON") from None
    if st.type == "Map" and "ResultWriter" in st.spec:
        if not isinstance(result, dict):
            raise validation("Mocked result must be a JSON object.")
        return
    if not isinstance(result, list):
        raise validation("Mocked result must be an array.")
    if st.type == "Parallel" and len(result) != len(st.branches):
        raise validation("Mocked result must contain the same number of items as number of Parallel branches.")
    failures = config.get("mapIterationFailureCount")
    if st.type == "Map" and failures is not None and failures > len(result):
        raise validation("Map iteration failure count must be less than or equal to the number of Map iterations")


def _record(run, key: str, value) -> None:
    run.inspect[key] = JP.to_json(value)


def _array_error(path: str) -> StatesError:
    shown = path[1:] if path.startswith("$$") else path
    err = StatesError(E.RUNTIME, f'Reference path "{shown}" must point to array.')
    err.prefixed = True
    return err


def _reader_items(run, st) -> list | None:
    text = run.config.get("mapItemReaderData")
    if text is None:
        return None
    cfg = (st.spec["ItemReader"].get("ReaderConfig") or {})
    kind = cfg.get("InputType", "JSON")
    try:
        if kind == "CSV":
            rows = list(csv.reader(io.StringIO(text)))
            if cfg.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
                headers = cfg.get("CSVHeaders") or []
            else:
                headers, rows = (rows[0] if rows else []), rows[1:]
            items = [{h: (r[i] if i < len(r) else "") for i, h in enumerate(headers)} for r in rows]
        elif kind == "JSONL":
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = json.loads(text)
    except ValueError:
        raise validation("mapItemReaderData must be valid data for the ItemReader's InputType") from None
    if not isinstance(items, list):
        raise StatesError(E.ITEM_READER_FAILED, "Attempting to map over non-iterable node.")
    if cfg.get("MaxItems"):
        items = items[:cfg["MaxItems"]]
    return items


def _items(run, st, eff):
    probe, t = run.probe, run.t
    if "ItemReader" in st.spec:
        return _reader_items(run, st)
    if st.jsonata:
        spec = st.spec.get("Items")
        if spec is None:
            items = t["in"]
        else:
            items = JE.evaluate_template(spec, "Items", I.jsonata_states(probe, t, st), dict(probe.vars))
        if not isinstance(items, list):
            raise _array_error("$")
        return items
    path = st.spec.get("ItemsPath", "$")
    if path.startswith("$$"):
        items = P.evaluate_path_value(path, eff, probe.context(t, st), probe.vars)
    else:
        items = JP.select_input_path(path, eff, probe.vars) if path != "$" else eff
    if "ItemsPath" in st.spec:
        _record(run, "afterItemsPath", items)
    if not isinstance(items, list):
        raise _array_error(path)
    return items


def _selected(run, st, eff, items: list) -> list:
    from services.stepfunctions.flows import item_input
    sel = st.spec.get("ItemSelector", st.spec.get("Parameters") if not st.jsonata else None)
    if sel is None:
        return items
    t = dict(run.t, kids={"eff": eff})
    out = [item_input(run.probe, t, st, i, v) for i, v in enumerate(items)]
    _record(run, "afterItemSelector", out)
    return out


async def run_map(run) -> dict:
    from services.stepfunctions.flows import _int_field
    from services.stepfunctions.itemio import batch_items
    st, probe, t = run.st, run.probe, run.t
    if st.jsonata:
        eff = t["in"]
    else:
        eff = I.effective_input(probe, t, st)
        _record(run, "afterInputPath", eff)
    items = _items(run, st, eff)
    if items is not None:
        items = _selected(run, st, eff, items)
        batcher = st.spec.get("ItemBatcher")
        if batcher is not None:
            items = batch_items(probe, t, st, items, eff, batcher)
            _record(run, "afterItemBatcher", items)
    mc = _int_field(probe, t, st, "MaxConcurrency", eff) or 0
    run.inspect["maxConcurrency"] = mc
    tol_count = _int_field(probe, t, st, "ToleratedFailureCount", eff)
    tol_pct = _int_field(probe, t, st, "ToleratedFailurePercentage", eff, what="float")
    if tol_count is not None:
        run.inspect["toleratedFailureCount"] = tol_count
    if tol_pct is not None:
        run.inspect["toleratedFailurePercentage"] = float(tol_pct)
    result = _mocked(run)
    failed = run.config.get("mapIterationFailureCount") or 0
    if failed and isinstance(result, list) and result:
        if (tol_count is not None and failed > tol_count) or \
                (tol_pct is not None and failed * 100.0 / len(result) > tol_pct):
            raise StatesError(E.EXCEED_TOLERATED_FAILURE_THRESHOLD, THRESHOLD_CAUSE)
    return _shape(run, st, result)


async def run_parallel(run) -> dict:
    return _shape(run, run.st, _mocked(run))


def _mocked(run):
    mock = run.mock
    if "errorOutput" in mock:
        eo = mock["errorOutput"] or {}
        raise StatesError(eo.get("error"), eo.get("cause"))
    return JP.from_json(mock.get("result", "null"))


def _shape(run, st, result) -> dict:
    """The branches'/iterations' results through ResultSelector/ResultPath/OutputPath, or Output/Assign."""
    probe, t = run.probe, run.t
    if st.jsonata:
        states = I.jsonata_states(probe, t, st, result=result)
        assigned = I.evaluate_assign_jsonata(probe, t, st.assign, states)
        return run._done(I.jsonata_output(probe, t, st, st.output, states, result), assigned=assigned)
    value = P.evaluate(st.result_selector, result, probe.context(t, st), probe.vars) \
        if st.result_selector is not None else result
    _record(run, "afterResultSelector", value)
    assigned = I.evaluate_assign_jsonpath(probe, t, st, st.assign_template, value)
    after = JP.apply_result_path(st.result_path, t["in"], value)
    _record(run, "afterResultPath", after)
    return run._done(I.apply_output_path(probe, t, st, after), assigned=assigned)
