"""One ordered table of model families gives both a model's licence (the dataset card) and
its LLaMA-Factory template (``export --for llamafactory``): every family is reached by its
own example id (no earlier row hides it), and both readers answer from that row."""

from __future__ import annotations

import pytest

from tane.export import licences
from tane.export.families import FAMILIES, family
from tane.export.train_configs import llamafactory_template


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.name)
def test_each_family_is_reached_by_its_example_and_read_by_both(fam):
    assert family(fam.example) is fam
    assert licences.lookup(fam.example).licence.id == (fam.licence or "unknown")
    template, why = llamafactory_template(fam.example)
    assert template == fam.template
    assert (fam.what in why) if fam.template else (template is None)


def test_every_licence_of_the_table_is_in_the_registry_and_names_are_unique():
    assert all(f.licence in licences.LICENCES for f in FAMILIES if f.licence)
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    assert family("acme/secret-model") is None
    assert llamafactory_template("acme/secret-model")[0] is None
