"""Pathway data: the forfait totals of the seeds, durations, drug table, and refusal of a bad split."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from fhir_server.pathway.rules import RulesError, load

FOLDER = Path(__file__).resolve().parents[2] / "mappings" / "pathway"


def test_totals_per_parcours_and_sequence_are_those_of_the_seeds() -> None:
    rules = load(FOLDER)
    assert [rules.total("A", n) for n in (1, 2, 3)] == [Decimal(357), Decimal(372), Decimal(169)]
    assert [rules.total("B", n) for n in (1, 2, 3)] == [Decimal(358), Decimal(362), Decimal(307)]
    assert rules.telemonitoring_amount == Decimal(28) and rules.telemonitoring_max_months == 6
    assert rules.episode_months == 10
    assert [(s.months, s.renewable) for s in rules.sequences.values()] == [(1, False), (3, True), (6, True)]


def test_drug_table_and_default() -> None:
    rules = load(FOLDER)
    assert rules.drug("L01BC06").sequence3_allowed and not rules.drug("L01BC06").hospital_reserve
    assert rules.drug("L01XX52").hospital_reserve
    assert rules.drug("L01ZZ99") == rules.default_drug


def test_a_split_that_does_not_add_up_is_refused_at_load(tmp_path: Path) -> None:
    shutil.copytree(FOLDER, tmp_path, dirs_exist_ok=True)
    tariffs = tmp_path / "tariffs.toml"
    tariffs.write_text(tariffs.read_text().replace("hospital = 217", "hospital = 218"))
    with pytest.raises(RulesError, match=r"parcours\.A\.sequence\.1: shares add up to 358, not the total 357"):
        load(tmp_path)
