"""The job config: the query, its datasets and its sink, as the server sends them (canonical JSON).

Every check names the field in error, says what is wrong and how to fix it. The server builds the
config, so a failure here is a server bug or a tampered config; the runner never guesses.
"""

import json
import re
from dataclasses import dataclass, field
from typing import List, Optional

from .errors import config_error

FORMATS = ("csv", "parquet", "json")
# The schema types governance accepts (crates/governance Field.field_type).
FIELD_TYPES = ("string", "integer", "long", "number", "boolean", "date", "timestamp")
RUN_ID = re.compile(r"^[0-9a-f]{16}$")
VIEW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SEGMENT_VIEW = re.compile(r"^segment[0-9]+(_[0-9]+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Field:
    name: str
    type: str


@dataclass(frozen=True)
class Dataset:
    id: str
    owner: str
    view: str
    location: str
    format: str
    schema: List[Field]
    allowed_fields: List[str]
    secrets: List[str]
    path: str  # where it sits in the config, for messages: "datasets[0]"


@dataclass(frozen=True)
class Sink:
    id: str
    owner: str
    location: str
    format: str
    allowed_fields: List[str]
    secrets: List[str]
    path: str = "sink"


@dataclass(frozen=True)
class Precondition:
    view: str
    min_rows: int
    path: str


@dataclass(frozen=True)
class PostFilter:
    column: str
    min: float
    path: str


@dataclass(frozen=True)
class Segment:
    execution_order: int
    sql: str
    preconditions: List[Precondition]
    post_filters: List[PostFilter]
    path: str
    view: str = ""  # segment{n}, or segment{n}_{k} when several share order n


@dataclass(frozen=True)
class Query:
    id: str
    version: int
    segments: List[Segment]  # in execution order


@dataclass(frozen=True)
class JobConfig:
    cleanroom: str
    run: str
    datasets: List[Dataset]
    query: Query
    sink: Sink
    raw: bytes = field(repr=False, default=b"")


def _object(value, path):
    if not isinstance(value, dict):
        raise config_error(path, f"expected a JSON object, found {type(value).__name__}", "send an object here")
    return value


def _string(obj, key, path, allow_empty=False):
    value = obj.get(key)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise config_error(f"{path}.{key}" if path else key, "missing or not a non-empty string", "set it to a string")
    return value


def _list(obj, key, path, required=True):
    full = f"{path}.{key}" if path else key
    if key not in obj and not required:
        return []
    value = obj.get(key)
    if not isinstance(value, list):
        raise config_error(full, "missing or not a list", "send a JSON array")
    return value


def _strings(obj, key, path, required=True, non_empty=False):
    values = _list(obj, key, path, required)
    full = f"{path}.{key}"
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value:
            raise config_error(f"{full}[{i}]", "not a non-empty string", "list names as strings")
    if non_empty and not values:
        raise config_error(full, "is empty", "name at least one")
    if len(set(values)) != len(values):
        raise config_error(full, "names something twice", "list each name once")
    return values


def _integer(obj, key, path, minimum=0):
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise config_error(f"{path}.{key}", f"missing or not an integer >= {minimum}", "send a whole number")
    return value


def _format(obj, path):
    value = _string(obj, "format", path)
    if value not in FORMATS:
        raise config_error(f"{path}.format", f"{value!r} is not a format the runner knows", f"use one of {', '.join(FORMATS)}")
    return value


def _dataset(value, path):
    obj = _object(value, path)
    schema = []
    for j, item in enumerate(_list(obj, "schema", path)):
        fpath = f"{path}.schema[{j}]"
        fobj = _object(item, fpath)
        name = _string(fobj, "name", fpath)
        ftype = _string(fobj, "type", fpath)
        if ftype not in FIELD_TYPES:
            raise config_error(f"{fpath}.type", f"{ftype!r} is not a known type", f"use one of {', '.join(FIELD_TYPES)}")
        schema.append(Field(name, ftype))
    if not schema:
        raise config_error(f"{path}.schema", "has no fields", "declare the dataset's columns")
    names = [f.name for f in schema]
    if len(set(names)) != len(names):
        raise config_error(f"{path}.schema", "declares a column twice", "give each column its own name")
    allowed = _strings(obj, "allowedFields", path, non_empty=True)
    for i, name in enumerate(allowed):
        if name not in names:
            raise config_error(f"{path}.allowedFields[{i}]", f"{name!r} is not a column of the schema", "allow only declared columns")
    view = _string(obj, "view", path)
    if not VIEW_NAME.match(view) or SEGMENT_VIEW.match(view):
        raise config_error(
            f"{path}.view",
            f"{view!r} is not a usable view name (letters, digits, _; not segment<n>, which names segment results)",
            "rename the query input's view",
        )
    return Dataset(
        id=_string(obj, "id", path),
        owner=_string(obj, "owner", path),
        view=view,
        location=_string(obj, "location", path),
        format=_format(obj, path),
        schema=schema,
        allowed_fields=allowed,
        secrets=_strings(obj, "secrets", path, required=False),
        path=path,
    )


def _sink(value):
    path = "sink"
    obj = _object(value, path)
    return Sink(
        id=_string(obj, "id", path),
        owner=_string(obj, "owner", path),
        location=_string(obj, "location", path),
        format=_format(obj, path),
        allowed_fields=_strings(obj, "allowedFields", path, non_empty=True),
        secrets=_strings(obj, "secrets", path, required=False),
    )


def _segment(value, path):
    obj = _object(value, path)
    preconditions = []
    for j, item in enumerate(_list(obj, "preconditions", path, required=False)):
        ppath = f"{path}.preconditions[{j}]"
        pobj = _object(item, ppath)
        preconditions.append(Precondition(_string(pobj, "view", ppath), _integer(pobj, "minRows", ppath), ppath))
    post_filters = []
    for j, item in enumerate(_list(obj, "postFilters", path, required=False)):
        fpath = f"{path}.postFilters[{j}]"
        fobj = _object(item, fpath)
        minimum = fobj.get("min")
        if isinstance(minimum, bool) or not isinstance(minimum, (int, float)):
            raise config_error(f"{fpath}.min", "missing or not a number", "send the minimum as a number")
        post_filters.append(PostFilter(_string(fobj, "column", fpath), float(minimum), fpath))
    return Segment(
        execution_order=_integer(obj, "executionOrder", path),
        sql=_string(obj, "sql", path),
        preconditions=preconditions,
        post_filters=post_filters,
        path=path,
    )


def _query(value):
    path = "query"
    obj = _object(value, path)
    segments = [_segment(s, f"{path}.segments[{i}]") for i, s in enumerate(_list(obj, "segments", path))]
    if not segments:
        raise config_error("query.segments", "the query has no segments", "add at least one SQL segment")
    # Stable sort: segments sharing an order keep their listed order.
    segments.sort(key=lambda s: s.execution_order)
    last = segments[-1].execution_order
    if sum(1 for s in segments if s.execution_order == last) != 1:
        raise config_error(
            "query.segments",
            f"several segments share the last execution order {last}",
            "the last execution order must hold exactly one segment: its result is the output",
        )
    named = []
    for s in segments:
        peers = [p for p in segments if p.execution_order == s.execution_order]
        if len(peers) == 1:
            view = f"segment{s.execution_order}"
        else:
            view = f"segment{s.execution_order}_{peers.index(s) + 1}"
        named.append(Segment(s.execution_order, s.sql, s.preconditions, s.post_filters, s.path, view))
    version = obj.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise config_error("query.version", "missing or not an integer", "send the query document's version")
    return Query(id=_string(obj, "id", path), version=version, segments=named)


def parse_job_config(raw: bytes, cleanroom: Optional[str] = None, run: Optional[str] = None) -> JobConfig:
    """Parses and checks the job config bytes; `cleanroom` and `run` are the command line's."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise config_error("--config", f"not UTF-8 JSON ({e.__class__.__name__})", "pass the job config the server built") from None
    obj = _object(value, "config")
    config_cleanroom = _string(obj, "cleanroom", "")
    config_run = _string(obj, "run", "")
    if not RUN_ID.match(config_run):
        raise config_error("run", f"{config_run!r} is not 16 lower-case hex digits", "send the run id the server assigned")
    if cleanroom is not None and config_cleanroom != cleanroom:
        raise config_error("cleanroom", f"the config is for clean room {config_cleanroom!r}, not {cleanroom!r}", "pass the matching --cleanroom")
    if run is not None and config_run != run:
        raise config_error("run", f"the config is for run {config_run}, not {run}", "pass the matching --run")
    datasets = [_dataset(d, f"datasets[{i}]") for i, d in enumerate(_list(obj, "datasets", ""))]
    if not datasets:
        raise config_error("datasets", "the query reads no dataset", "send at least one dataset")
    views = [d.view.lower() for d in datasets]
    if len(set(views)) != len(views):
        raise config_error("datasets", "two datasets share a view name", "give each input its own view")
    return JobConfig(
        cleanroom=config_cleanroom,
        run=config_run,
        datasets=datasets,
        query=_query(obj.get("query")),
        sink=_sink(obj.get("sink")),
        raw=raw,
    )
