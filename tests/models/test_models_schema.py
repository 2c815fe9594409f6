import math

import numpy as np
import pytest

from models.schema import (FeatureValidationError, SchemaError, check_schema, decode_row,
                           load_schema, schema_hash, validate_row)

GMSC_ROW = {"RevolvingUtilizationOfUnsecuredLines": 0.5, "age": 45,
            "NumberOfTime30-59DaysPastDueNotWorse": 1, "DebtRatio": 0.3, "MonthlyIncome": 5000.0,
            "NumberOfOpenCreditLinesAndLoans": 7, "NumberOfTimes90DaysLate": 0,
            "NumberRealEstateLoansOrLines": 1, "NumberOfTime60-89DaysPastDueNotWorse": 0,
            "NumberOfDependents": 2}


@pytest.fixture
def gmsc_schema():
    return load_schema("gmsc")


def test_valid_row_returns_float32_vector_in_schema_order(gmsc_schema):
    v = validate_row(gmsc_schema, GMSC_ROW)
    assert v.dtype == np.float32 and v.shape == (10,)
    names = [f["name"] for f in gmsc_schema["features"]]
    assert [float(x) for x in v] == [np.float32(GMSC_ROW[n]) for n in names]


@pytest.mark.parametrize("field,value,fragment", [
    ("age", float("nan"), "non-finite"),
    ("DebtRatio", float("inf"), "non-finite"),
    ("age", "45", "expected a number"),
    ("age", True, "expected a number"),
    ("age", 17, "below minimum"),
    ("NumberOfTimes90DaysLate", 99, "above maximum"),
    ("NumberOfOpenCreditLinesAndLoans", 2.5, "integer"),
    ("RevolvingUtilizationOfUnsecuredLines", -0.1, "below minimum"),
])
def test_invalid_value_raises_feature_validation_error(gmsc_schema, field, value, fragment):
    row = dict(GMSC_ROW, **{field: value})
    with pytest.raises(FeatureValidationError) as e:
        validate_row(gmsc_schema, row)
    assert e.value.feature == field and fragment in str(e.value)


def test_missing_required_feature_is_rejected(gmsc_schema):
    row = {k: v for k, v in GMSC_ROW.items() if k != "age"}
    with pytest.raises(FeatureValidationError, match="age: missing"):
        validate_row(gmsc_schema, row)


def test_missing_imputable_feature_becomes_nan(gmsc_schema):
    row = dict(GMSC_ROW, MonthlyIncome=None)
    del row["NumberOfDependents"]
    v = validate_row(gmsc_schema, row)
    assert math.isnan(v[4]) and math.isnan(v[9]) and not np.isnan(v[:4]).any()


def test_unexpected_key_is_rejected_unless_allowed(gmsc_schema):
    row = dict(GMSC_ROW, borrower="0xabc")
    with pytest.raises(FeatureValidationError, match="unexpected"):
        validate_row(gmsc_schema, row)
    assert validate_row(gmsc_schema, row, allow_extra=True).shape == (10,)


def test_category_encoded_as_index_and_unknown_rejected():
    s = load_schema("taiwan")
    row = {f["name"]: (f["min"] if f["type"] != "category" else 3) for f in s["features"]}
    row["LIMIT_BAL"] = 50000
    v = validate_row(s, row)
    assert v[1] == s["features"][1]["categories"].index(3)
    assert validate_row(s, dict(row, EDUCATION="3"))[1] == v[1]
    with pytest.raises(FeatureValidationError, match="unknown category"):
        validate_row(s, dict(row, EDUCATION=9))


def test_decode_row_inverts_validate_row():
    s = load_schema("german")
    row = {f["name"]: (f["categories"][-1] if f["type"] == "category" else f["min"])
           for f in s["features"]}
    assert decode_row(s, validate_row(s, row)) == row


def test_schema_hash_is_canonical_and_changes_with_content(gmsc_schema):
    reordered = dict(reversed(list(gmsc_schema.items())))
    assert schema_hash(reordered) == schema_hash(gmsc_schema)
    changed = dict(gmsc_schema, version=2)
    assert schema_hash(changed) != schema_hash(gmsc_schema)
    assert len(schema_hash(gmsc_schema)) == 64


def test_malformed_schema_is_rejected():
    with pytest.raises(SchemaError):
        check_schema({"target": "y", "features": [{"name": "a", "type": "text"}]})
    with pytest.raises(SchemaError):
        check_schema({"target": "y", "features": [{"name": "a", "type": "category",
                                                   "categories": ["x", "x"]}]})


def test_a_number_format_other_than_percent_is_rejected():
    feature = {"name": "rate", "type": "float", "format": "percent"}
    check_schema({"target": "y", "features": [feature]})
    with pytest.raises(SchemaError, match="rate: format must be one of"):
        check_schema({"target": "y", "features": [dict(feature, format="percentage")]})
