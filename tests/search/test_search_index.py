"""Index tables: schema agrees with the migration, rows follow every write of a resource."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from search_helpers import FHIR_JSON, create, search_ids

from fhir_server.search.hashing import identity_hash
from fhir_server.search.tables import INDEX_TABLES
from fhir_server.services import Services
from fhir_server.store.database import Database
from fhir_server.store.tables import metadata, resource


def test_migration_creates_exactly_the_declared_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        diff = [d for d in compare_metadata(context, metadata) if "idx_" in repr(d)]
        assert diff == []
        inspector = sa.inspect(conn)
        for name, table in INDEX_TABLES.items():
            columns = {c["name"]: c for c in inspector.get_columns(f"idx_{name}")}
            assert set(columns) == {c.name for c in table.columns}
            assert all(not c["nullable"] for c in columns.values()), name


def _rows(services: Services, res_id: str) -> dict[str, list[tuple[str, str]]]:
    """Index rows of one Patient, as (param, value) pairs per table; rows name their parameter only
    through `hash_identity`."""
    params = services.indexer.params
    keys = {identity_hash(param.hash_type("Patient"), params.index_key("Patient", code)): params.index_key(
        "Patient", code) for code, param in params.for_type("Patient").items()}
    out: dict[str, list[tuple[str, str]]] = {}
    with services.db.read() as conn:
        pk = conn.execute(sa.text("SELECT pk FROM resource WHERE res_id = :i"), {"i": res_id}).scalar_one()
        for kind, table in INDEX_TABLES.items():
            value = table.c[{"token": "value", "string": "value_exact", "date": "low", "number": "low",
                             "quantity": "low", "uri": "uri", "reference": "target_id"}[kind]]
            rows = conn.execute(sa.select(table.c.hash_identity, value).where(table.c.res_pk == pk))
            found = sorted((keys[r[0]], str(r[1])) for r in rows)
            if found:
                out[kind] = found
    return out


def test_rows_are_replaced_on_update_and_removed_on_delete(client: TestClient, services: Services) -> None:
    create(client, {"resourceType": "Patient", "id": "p", "gender": "male", "name": [{"family": "Martin"}],
                    "managingOrganization": {"reference": "Organization/o1"}})
    assert _rows(services, "p") == {
        # `Patient.deceased.exists() and …` is false, not empty, without deceased[x]
        "token": [("deceased", "false"), ("gender", "male")],
        # `phonetic` has the expression of `name` on Patient, `family` is a part of it: both read name's rows
        "string": [("name", "Martin")],
        "reference": [("organization", "o1")],
    }
    assert search_ids(client, "/fhir/Patient?phonetic=mart") == ["p"]
    assert search_ids(client, "/fhir/Patient?family=mart") == ["p"]
    assert search_ids(client, "/fhir/Patient?given=mart") == []
    create(client, {"resourceType": "Patient", "id": "p", "gender": "female", "name": [{"family": "Petit"}]})
    assert _rows(services, "p") == {
        "token": [("deceased", "false"), ("gender", "female")],
        "string": [("name", "Petit")],
    }
    assert search_ids(client, "/fhir/Patient?gender=male") == []
    assert search_ids(client, "/fhir/Patient?gender=female") == ["p"]
    assert client.delete("/fhir/Patient/p").status_code in (200, 204)
    assert _rows(services, "p") == {}
    assert search_ids(client, "/fhir/Patient?gender=female") == []
    create(client, {"resourceType": "Patient", "id": "p", "gender": "other"})
    assert search_ids(client, "/fhir/Patient?gender=other") == ["p"]


def test_contact_point_parameters_read_the_telecom_rows(client: TestClient, services: Services) -> None:
    """`phone` and `email` are `telecom.where(system=…)`: they have no rows of their own and select
    telecom's rows by system, with the same answers as rows of their own would give."""
    create(client, {"resourceType": "Patient", "id": "p", "telecom": [
        {"system": "phone", "value": "0612345678"}, {"system": "email", "value": "a@example.org"}]})
    create(client, {"resourceType": "Patient", "id": "q", "telecom": [{"system": "email", "value": "0612345678"}]})
    assert _rows(services, "p")["token"] == [("deceased", "false"), ("telecom", "0612345678"),
                                             ("telecom", "a@example.org")]
    assert search_ids(client, "/fhir/Patient?phone=0612345678") == ["p"]
    assert search_ids(client, "/fhir/Patient?phone=phone|0612345678") == ["p"]
    assert search_ids(client, "/fhir/Patient?phone=email|0612345678") == []
    assert search_ids(client, "/fhir/Patient?email=0612345678") == ["q"]
    assert sorted(search_ids(client, "/fhir/Patient?telecom=0612345678")) == ["p", "q"]
    assert search_ids(client, "/fhir/Patient?phone:missing=true") == ["q"]
    assert search_ids(client, "/fhir/Patient?phone:not=0612345678") == ["q"]


def test_patch_reindexes(client: TestClient) -> None:
    create(client, {"resourceType": "Patient", "id": "p", "gender": "male"})
    response = client.patch("/fhir/Patient/p", json=[{"op": "replace", "path": "/gender", "value": "female"}],
                            headers={"Content-Type": "application/json-patch+json"})
    assert response.status_code == 200, response.text
    assert search_ids(client, "/fhir/Patient?gender=female") == ["p"]
    assert search_ids(client, "/fhir/Patient?gender=male") == []


def test_transaction_indexes_every_entry_and_rolls_back_with_it(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:0c3f4a2e-0000-4000-8000-000000000001",
             "resource": {"resourceType": "Patient", "name": [{"family": "Bernard"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
                          "subject": {"reference": "urn:uuid:0c3f4a2e-0000-4000-8000-000000000001"}},
             "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    patient_id = search_ids(client, "/fhir/Patient?name=bernard")[0]
    assert len(search_ids(client, f"/fhir/Observation?subject=Patient/{patient_id}")) == 1
    assert len(search_ids(client, "/fhir/Observation?subject.name=bernard")) == 1

    failing = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient", "name": [{"family": "Rollback"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "DELETE", "url": "Patient/missing"}, },
            {"resource": {"resourceType": "Patient", "id": "x"}, "request": {"method": "PUT", "url": "Patient/y"}},
        ],
    }
    assert client.post("/fhir", json=failing, headers=FHIR_JSON).status_code >= 400
    assert search_ids(client, "/fhir/Patient?name=rollback") == []


def test_a_large_transaction_stores_exactly_the_rows_its_resources_yield(client: TestClient,
                                                                         services: Services) -> None:
    """A transaction's rows go to the database in bulk (binary COPY on PostgreSQL, past a few dozen rows):
    every column of every table must read back as the indexer computed it — negative hashes, float
    bounds, microsecond dates, name-part bits, accented text, references split into type and id."""
    entries = []
    for n in range(12):
        patient = {"resourceType": "Patient", "id": f"bulk-p{n}", "gender": "female",
                   "birthDate": f"1951-03-{n + 1:02d}",
                   "name": [{"family": "Lefèvre", "given": ["Zoé", f"n{n}"]}],
                   "address": [{"city": "Besançon", "postalCode": "25000"}],
                   "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": f"2510{n:09d}"}]}
        observation = {"resourceType": "Observation", "id": f"bulk-o{n}", "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
                       "subject": {"reference": f"Patient/bulk-p{n}"},
                       "effectiveDateTime": f"2026-11-{n + 10:02d}T08:30:00.125+01:00",
                       "valueQuantity": {"value": 38.5 + n / 10, "unit": "°C", "system": "http://unitsofmeasure.org",
                                         "code": "Cel"}}
        risk = {"resourceType": "RiskAssessment", "id": f"bulk-r{n}", "status": "final",
                "subject": {"reference": f"Patient/bulk-p{n}"},
                "prediction": [{"probabilityDecimal": 0.125 * (n % 8)}]}
        entries += [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                    for r in (patient, observation, risk)]
    response = client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
                           headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    expected: dict[str, set[tuple]] = {kind: set() for kind in INDEX_TABLES}
    with services.db.read() as conn:
        stored = conn.execute(sa.select(resource.c.pk, resource.c.res_type, resource.c.content)
                              .where(resource.c.res_id.startswith("bulk-"))).all()
        assert len(stored) == 36
        for pk, res_type, content in stored:
            for kind, rows in services.indexer.rows(res_type, content).items():
                expected[kind].update((pk, *row) for row in rows)
        pks = [pk for pk, _, _ in stored]
        found = {kind: {tuple(r) for r in conn.execute(sa.select(table).where(table.c.res_pk.in_(pks)))}
                 for kind, table in INDEX_TABLES.items()}
    assert {k for k, v in expected.items() if v} >= {"token", "string", "date", "number", "quantity", "reference"}
    assert sum(len(v) for v in expected.values()) > 48
    assert found == expected
