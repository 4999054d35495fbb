"""What a user configures for Boss Insights, read strictly: BOSS_INSIGHTS_UPDATE and the CDM field
mapping files (every mistake names the file and the field), and the shipped mappings."""

from pathlib import Path

import pytest

from p2p_assets.lib.boss_insights.mapping import MappingError, check_columns, load_fields
from p2p_assets.lib.boss_insights.records import CdmField, Kind
from p2p_assets.lib.boss_insights.updates import UpdateConfigError, UpdateMethod, parse_update

PACKAGE = Path(__file__).parents[3] / "p2p_assets"
QUERIES = PACKAGE / "defs" / "boss_insights" / "queries"  # the CDM field mappings
EXPORTS = PACKAGE / "dbt" / "models" / "exports"  # the views they map


@pytest.mark.parametrize(
    ("setting", "created", "updated", "create_only", "needs_id"),
    [
        (None, ("POST", "/v"), ("POST", "/v"), True, False),
        ("none", ("POST", "/v"), ("POST", "/v"), True, False),
        ("POST", ("POST", "/v"), ("POST", "/v"), False, False),
        ("put {path}/{id}", ("POST", "/v"), ("PUT", "/v/a%2Fb"), False, True),
        ("PATCH {path}/{id}/", ("POST", "/v"), ("PATCH", "/v/a%2Fb/"), False, True),
        ("PUT {path}", ("PUT", "/v"), ("PUT", "/v"), False, False),
    ],
)
def test_the_update_method(setting, created, updated, create_only, needs_id):
    update = parse_update(setting)
    assert update.request("/v", None) == created
    assert update.request("/v", "a/b") == updated
    assert (update.create_only, update.needs_remote_id) == (create_only, needs_id)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("DELETE {path}/{id}", "must be one of POST, PUT, PATCH"),
        ("PUT /vendors/{id}", "must start from {path}"),
        ("PUT {path}/{external_id}", "nothing else"),
        ("PUT {path}/{id", "BOSS_INSIGHTS_UPDATE='PUT {path}/{id'"),
        ("POST {path}/x", "POST upserts at {path} itself"),
    ],
)
def test_an_update_method_that_cannot_be_read_is_refused(setting, message):
    with pytest.raises(UpdateConfigError, match=message.replace("{", r"\{").replace("(", r"\(")):
        parse_update(setting)
    assert UpdateMethod().describe() == "none"


def test_the_shipped_mappings_are_the_fields_the_sandbox_knows():
    vendors = load_fields(QUERIES / "vendors.fields.toml")
    assert [f.name for f in vendors][:3] == ["external_id", "code", "name"]
    invoices = {f.name: f for f in load_fields(QUERIES / "payable_invoices.fields.toml")}
    assert invoices["total"] == CdmField("total", Kind.MINOR_UNITS, "total", True, "currency")
    assert invoices["vendor_external_id"].required


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[name]\ncolumn = 'n'\ntype = 'string'\n", "[name] type 'string' is not one of text,"),
        ("[name]\ntype = 'text'\n", "[name] needs column ="),
        ("[name]\ncolumn = 'n'\ntype = 'text'\nrequire = true\n", "unknown key(s) require"),
        ("[total]\ncolumn = 't'\ntype = 'minor_units'\n", "names its currency_column"),
        ("[name]\ncolumn = 'n'\ntype = 'text'\nrequired = 'yes'\n", "required must be true"),
        ("name = 'n'\n", "[name] must be a table"),
        ("[name\n", "not valid TOML"),
        ("", "maps no CDM field"),
    ],
)
def test_a_mapping_mistake_names_the_file_and_the_field(tmp_path: Path, text, message):
    path = tmp_path / "vendors.fields.toml"
    path.write_text(text)
    with pytest.raises(MappingError) as caught:
        load_fields(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_mapping_naming_a_column_the_view_does_not_return_is_refused(tmp_path: Path):
    fields = (CdmField("name", Kind.TEXT, "name"), CdmField("vat", Kind.TEXT, "vat_numbr"))
    query = EXPORTS / "boss_insights_vendors.sql"
    assert query.is_file()
    with pytest.raises(MappingError) as caught:
        check_columns(fields, ["record_key", "name", "tax_number"], QUERIES / "x.toml", query)
    assert str(caught.value) == (
        "p2p_assets/defs/boss_insights/queries/x.toml: [vat] reads column 'vat_numbr', which "
        "p2p_assets/dbt/models/exports/boss_insights_vendors.sql does not return (it returns "
        "name, record_key, tax_number)"
    )
    with pytest.raises(MappingError, match="no such mapping file"):
        load_fields(tmp_path / "missing.fields.toml")
