"""List/get/create/update/delete routes for one master-data table, the same for each."""


from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel

from etiquette.service.api.deps import CurrentUser, SessionDep
from etiquette.service.crud import master as crud
from etiquette.service.errors import NotFound
from etiquette.service.models import MasterRow
from etiquette.service.schemas import Message, error_responses
from etiquette.service.services import masterdata
from etiquette.service.services.access import Permission

ERRORS = error_responses(401, 403, 404, 409, 422)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def add_routes(router: APIRouter, *, model: type[MasterRow], create: type[BaseModel],
               update: type[BaseModel], public: type[BaseModel], many: type[BaseModel],
               filters: tuple[str, ...] = ()) -> None:
    label = masterdata.TARGETS[model]

    def to_public(row: MasterRow) -> BaseModel:
        return public.model_validate(row, from_attributes=True)

    def list_rows(session: SessionDep, principal: CurrentUser,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100,
                  center_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> Any:
        principal.require(Permission.MASTER_READ)
        where = {"center_id": center_id} if "center_id" in filters else {}
        rows, count = crud.list_rows(session=session, model=model, offset=offset, limit=limit,
                                     **where)
        return many(data=[to_public(r) for r in rows], count=count)

    def get_row(id: Id, session: SessionDep, principal: CurrentUser) -> Any:
        principal.require(Permission.MASTER_READ)
        row = crud.get(session=session, model=model, id=id)
        if row is None:
            raise NotFound(f"no {label} {id}")
        return to_public(row)

    def create_row(body: create, session: SessionDep, principal: CurrentUser) -> Any:  # type: ignore[valid-type]
        return to_public(masterdata.create(session=session, principal=principal, model=model,
                                           values=body.model_dump()))  # type: ignore[attr-defined]

    def update_row(id: Id, body: update, session: SessionDep, principal: CurrentUser) -> Any:  # type: ignore[valid-type]
        return to_public(masterdata.update(session=session, principal=principal, model=model, id=id,
                                           values=body.model_dump(exclude_unset=True)))  # type: ignore[attr-defined]

    def delete_row(id: Id, session: SessionDep, principal: CurrentUser) -> Message:
        masterdata.delete(session=session, principal=principal, model=model, id=id)
        return Message(detail=f"{label} {id} deleted")

    router.add_api_route("", list_rows, methods=["GET"], response_model=many, responses=ERRORS,
                         summary=f"List {label} records", operation_id=f"list_{label}")
    router.add_api_route("", create_row, methods=["POST"], response_model=public, responses=ERRORS,
                         status_code=status.HTTP_201_CREATED, summary=f"Create a {label} (admin)",
                         operation_id=f"create_{label}")
    router.add_api_route("/{id}", get_row, methods=["GET"], response_model=public, responses=ERRORS,
                         summary=f"Get a {label}", operation_id=f"get_{label}")
    router.add_api_route("/{id}", update_row, methods=["PATCH"], response_model=public,
                         responses=ERRORS, summary=f"Change a {label} (admin)",
                         operation_id=f"update_{label}")
    router.add_api_route("/{id}", delete_row, methods=["DELETE"], response_model=Message,
                         responses=ERRORS, summary=f"Delete an unreferenced {label} (admin)",
                         operation_id=f"delete_{label}")
