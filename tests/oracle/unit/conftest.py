"""Fixtures for the oracle unit tests: pure Python, no chain."""

import numpy as np
import pytest

from models.schema import load_schema

GOOD_ROW = {
    "RevolvingUtilizationOfUnsecuredLines": 0.35,
    "age": 45,
    "NumberOfTime30-59DaysPastDueNotWorse": 0,
    "DebtRatio": 0.4,
    "MonthlyIncome": 5200.0,
    "NumberOfOpenCreditLinesAndLoans": 7,
    "NumberOfTimes90DaysLate": 0,
    "NumberRealEstateLoansOrLines": 1,
    "NumberOfTime60-89DaysPastDueNotWorse": 0,
    "NumberOfDependents": 2,
}


@pytest.fixture(scope="session")
def schema():
    return load_schema("gmsc")


@pytest.fixture
def good_row():
    return dict(GOOD_ROW)


@pytest.fixture
def rng():
    return np.random.default_rng(7)
