"""Revision 0007 on a database that already holds index rows of the earlier shape: the rows of part
parameters (`family`, `given`) are folded into their parent's with the part bits, those of `phone` go
(`telecom`'s answer it), and the member-scoped copy follows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from fhir_server.search.hashing import hash_parts, identity_hash
from fhir_server.search.parts import part_bit
from fhir_server.search.registry import SearchParameters
from fhir_server.search.text import normalise
from fhir_server.store.database import Database
from fhir_server.store.migrate import upgrade
from tests.conftest import PG_URL

FAMILY_BIT, GIVEN_BIT = part_bit("HumanName", "family"), part_bit("HumanName", "given")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    db = Database(url)
    upgrade(db, "0006")
    yield db
    db.dispose()
    if request.param == "postgresql":
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


def _old_string_row(pk: int, code: str, value: str) -> dict[str, object]:
    return {"res_pk": pk, "res_type": "Patient", "param": code, "hash_identity": identity_hash("Patient", code),
            "hash_exact": hash_parts("Patient", code, value), "value_norm": normalise(value), "value_exact": value}


def _old_token_row(pk: int, code: str, system: str, value: str) -> dict[str, object]:
    return {"res_pk": pk, "res_type": "Patient", "param": code, "hash_identity": identity_hash("Patient", code),
            "hash_value": hash_parts("Patient", code, value), "hash_sys": hash_parts("Patient", code, system, ""),
            "hash_sys_value": hash_parts("Patient", code, system, value), "system": system, "value": value,
            "text": ""}


def test_part_rows_are_folded_into_their_parents(db_at_0006: Database, search_params: SearchParameters) -> None:
    with db_at_0006.write() as conn:
        pk = conn.execute(sa.text(
            "INSERT INTO resource (res_type, res_id, version_id, last_updated, deleted, content) "
            "VALUES ('Patient', 'p1', 1, :t, :d, NULL) RETURNING pk"), {"t": datetime.now(UTC), "d": False}
        ).scalar_one()
        rows = [_old_string_row(pk, "name", "Martin"), _old_string_row(pk, "name", "Jean"),
                _old_string_row(pk, "name", "Dr"), _old_string_row(pk, "family", "Martin"),
                _old_string_row(pk, "given", "Jean")]
        conn.execute(sa.text(
            "INSERT INTO idx_string (res_pk, res_type, param, hash_identity, hash_exact, value_norm, value_exact) "
            "VALUES (:res_pk, :res_type, :param, :hash_identity, :hash_exact, :value_norm, :value_exact)"), rows)
        conn.execute(sa.text(
            "INSERT INTO idx_token (res_pk, res_type, param, hash_identity, hash_value, hash_sys, hash_sys_value, "
            "system, value, text) VALUES (:res_pk, :res_type, :param, :hash_identity, :hash_value, :hash_sys, "
            ":hash_sys_value, :system, :value, :text)"),
            [_old_token_row(pk, "telecom", "phone", "0612345678"), _old_token_row(pk, "phone", "phone", "0612345678")])
        conn.execute(sa.text("INSERT INTO care_access (source_pk, patient_id, member) "
                             "VALUES (:pk, 'p1', 'Organization/o1')"), {"pk": pk})
    with pytest.raises(RuntimeError, match="search parameter definitions"):
        upgrade(db_at_0006)
    upgrade(db_at_0006, search_params=search_params)
    with db_at_0006.read() as conn:
        found = conn.execute(sa.text(
            "SELECT hash_identity, value_exact, parts FROM idx_string ORDER BY value_exact")).all()
        member = conn.execute(sa.text("SELECT value_norm, parts FROM idx_string_member ORDER BY value_norm")).all()
        tokens = conn.execute(sa.text("SELECT hash_identity, value FROM idx_token")).all()
    name = identity_hash("Patient", "name")
    assert [tuple(r) for r in found] == [(name, "Dr", 0), (name, "Jean", GIVEN_BIT), (name, "Martin", FAMILY_BIT)]
    assert [tuple(r) for r in member] == [("dr", 0), ("jean", GIVEN_BIT), ("martin", FAMILY_BIT)]
    assert [tuple(r) for r in tokens] == [(identity_hash("Patient", "telecom"), "0612345678")]
