"""The misclassification report, live: the same figures as `triaje report`, filtered by
week, mailbox and model version, with each table as a CSV download."""

from __future__ import annotations

import io
import re
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from pipeline.tracking import report
from pipeline.web.desk import Desk
from pipeline.web.guard import page, refuse
from pipeline.web.reportdata import FILTERS
from pipeline.web.sessions import Session

_TABLE = re.compile(r"^[a-z_]{1,40}$")


def _filters(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "")[:200] for k in FILTERS if request.query_params.get(k)}


@page()
def report_page(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    filters = _filters(request)
    found = desk.report_cache.get(desk.engine, desk.config.desk.timezone, filters)
    tables = list(report.csv_tables(found["data"]))
    as_of = found["as_of"].astimezone(ZoneInfo(desk.config.desk.timezone)) if found["as_of"] else None
    return desk.page(request, "report.html.j2", session, data=found["data"],
                     options=found["options"], filters=filters, tables=tables,
                     query=request.url.query, stale=found["stale"], as_of=as_of)


@page()
def report_csv(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    table = request.path_params["table"]
    found = desk.report_cache.get(desk.engine, desk.config.desk.timezone, _filters(request))
    tables = report.csv_tables(found["data"])
    if not _TABLE.match(table) or table not in tables:
        return refuse(request, desk, session, "not_found", 404)
    out = io.StringIO()
    report.csv_text(tables[table], out)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{table}.csv"', "Cache-Control": "no-store"})
