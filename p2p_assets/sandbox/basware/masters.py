"""Master data of the simulated tenant: organization elements, users, suppliers, and the word
pools documents draw from. Each function maps serials (and a version, the extract delivering
them) to column arrays; `data.py` assembles them into tables.
"""

import numpy as np
import polars as pl

from p2p_assets.sandbox.basware.plan import Plan

FIRST_NAMES = [
    "Anna",
    "Mikko",
    "Laura",
    "Jukka",
    "Sofia",
    "Erik",
    "Maria",
    "Lars",
    "Elina",
    "Ahmed",
    "Chloé",
    "José",
    "Aino",
    "Oskar",
]
LAST_NAMES = [
    "Virtanen",
    "Korhonen",
    "Nieminen",
    "Mäkinen",
    "Andersson",
    "Johansson",
    "Smith",
    "Müller",
    "O'Brien",
    "García",
    "Nowak",
    "Dubois",
    "Lindqvist",
    "Heikkinen",
]
SUPPLIER_WORDS = [
    "Nordic",
    "Baltic",
    "Acme",
    "Polar",
    "Global",
    "Arctic",
    "Metro",
    "Green",
    "Kotka",
    "Delta",
    "Saimaa",
    "Öresund",
]
# Commas and quotes on purpose: CSV files must quote them (RFC 4180) and JSON must escape them.
SUPPLIER_KINDS = [
    "Paper",
    "Logistics",
    "Software",
    "Office Supplies",
    "Cleaning Services",
    "Consulting",
    "Energy",
    "Print, Pack & Post",
    'Catering "Deluxe"',
    "Electronics",
]
LEGAL_FORMS = ["Oy", "Ab", "GmbH", "Ltd", "AS", "Oyj", "AB"]
COUNTRIES = ["FI", "FI", "FI", "SE", "SE", "DE", "DE", "GB", "US"]
CITIES = {
    "FI": ["Helsinki", "Tampere", "Oulu", "Turku"],
    "SE": ["Stockholm", "Göteborg"],
    "DE": ["München", "Köln"],
    "GB": ["London", "Leeds"],
    "US": ["Boston", "Austin"],
}
CURRENCY_BY_COUNTRY = {"FI": "EUR", "SE": "SEK", "DE": "EUR", "GB": "GBP", "US": "USD"}
# Value of one unit in EUR, in 1/10000: integer arithmetic keeps company-currency sums exact.
EUR_RATE = {"EUR": 10_000, "SEK": 870, "GBP": 11_700, "USD": 9_200}
COMPANIES = [
    ("FI01", "Acme Finland Oy", "EUR"),
    ("SE01", "Acme Sverige AB", "SEK"),
    ("DE01", "Acme Deutschland GmbH", "EUR"),
]
ORG_NAMES = [
    "Finance",
    "Procurement",
    "IT",
    "Sales",
    "Production",
    "HR",
    "Logistics",
    "R&D",
    "Marketing, Nordics",
    "Facilities",
]
LANGUAGES = ["fi-FI", "sv-SE", "en-US", "de-DE"]


def take(pool: list, index: np.ndarray) -> pl.Series:
    return pl.Series(pool).gather(pl.Series(index.astype(np.int64)))


def ids(plan: Plan, table: str, serials: np.ndarray) -> pl.Series:
    """32-character ids: a per-table prefix and the zero-padded serial (stable across extracts)."""
    return plan.prefix(table) + pl.Series(serials.astype(np.int64)).cast(pl.String).str.zfill(24)


def event_ids(plan: Plan, table: str, extract: int, count: int) -> pl.Series:
    """Ids of records that are never re-delivered (log lines): unique per extract and position."""
    serials = pl.Series(np.arange(count, dtype=np.int64)).cast(pl.String).str.zfill(18)
    return f"{plan.prefix(table)}{extract:06d}" + serials


def polars_ready(values):
    """numpy seconds-resolution datetimes as milliseconds (polars refuses datetime64[s])."""
    if isinstance(values, np.ndarray) and values.dtype == np.dtype("datetime64[s]"):
        return values.astype("datetime64[ms]")
    return values


def null_where(values, mask: np.ndarray) -> pl.Series:
    """`values` with nulls where `mask` is true (the column is then omitted in JSON records)."""
    frame = pl.DataFrame({"v": polars_ready(values), "m": mask})
    return frame.select(pl.when(pl.col("m")).then(None).otherwise(pl.col("v"))).to_series()


def company(org: np.ndarray) -> np.ndarray:
    return org % len(COMPANIES)


def org_elements(plan: Plan, s: np.ndarray, created: np.ndarray) -> dict:
    parent = np.where(s > 0, plan.pick("org:parent", s, np.maximum(s, 1)), -1)
    parent_ids = ids(plan, "ADM_ORGANIZATION_ELEMENT", np.maximum(parent, 0))
    return {
        "ID": ids(plan, "ADM_ORGANIZATION_ELEMENT", s),
        "CODE": org_code(s),
        "NAME": org_name(s),
        "PARENT_ID": null_where(parent_ids, parent < 0),
        "COMPANY_CODE": take([c[0] for c in COMPANIES], company(s)),
        "ACTIVE": np.ones(len(s), dtype=np.int64),
        "CREATION_TIME": plan.created("org", s, created),
    }


def org_code(s: np.ndarray) -> pl.Series:
    return "OE" + pl.Series(s).cast(pl.String).str.zfill(4)


def org_name(s: np.ndarray) -> pl.Series:
    return (
        take(ORG_NAMES, s % len(ORG_NAMES))
        + " "
        + pl.Series(s // len(ORG_NAMES) + 1).cast(pl.String)
    )


def users(plan: Plan, s: np.ndarray, version: np.ndarray) -> dict:
    created = plan.users.created_in(s)
    first = plan.pick("user:first", s, len(FIRST_NAMES))
    last = plan.pick("user:last", s, len(LAST_NAMES))
    login = (
        take(FIRST_NAMES, first).str.to_lowercase()
        + "."
        + take(LAST_NAMES, last).str.to_lowercase().str.replace_all("'", "")
        + pl.Series(s).cast(pl.String)
    )
    org = plan.pick("user:org", s, plan.orgs.count_through(created))
    # The later a version, the later the last login; a few users get deactivated on re-delivery.
    last_login = plan.day(version) - (3600 + plan.pick("user:login", s, 80000, version)).astype(
        "timedelta64[s]"
    )
    active = np.where((version > created) & (plan.pick("user:active", s, 7, version) == 0), 0, 1)
    return {
        "ID": ids(plan, "ADM_USER_DATA", s),
        "LOGIN_ACCOUNT": login,
        "FIRST_NAME": take(FIRST_NAMES, first),
        "LAST_NAME": take(LAST_NAMES, last),
        "EMAIL": login + "@example.com",
        "ORGANIZATION_ELEMENT_ID": ids(plan, "ADM_ORGANIZATION_ELEMENT", org),
        "LANGUAGE_CODE": take(LANGUAGES, plan.pick("user:lang", s, len(LANGUAGES))),
        "ACTIVE": active.astype(np.int64),
        "LAST_LOGIN_TIME": last_login,
        "CREATION_TIME": plan.created("user", s, created),
    }


def supplier_country(plan: Plan, s: np.ndarray) -> np.ndarray:
    return plan.pick("sup:country", s, len(COUNTRIES))


def supplier_code(s: np.ndarray) -> pl.Series:
    return "S" + pl.Series(10000 + s).cast(pl.String)


def supplier_name(plan: Plan, s: np.ndarray) -> pl.Series:
    return (
        take(SUPPLIER_WORDS, plan.pick("sup:w", s, len(SUPPLIER_WORDS)))
        + " "
        + take(SUPPLIER_KINDS, plan.pick("sup:k", s, len(SUPPLIER_KINDS)))
        + " "
        + take(LEGAL_FORMS, plan.pick("sup:f", s, len(LEGAL_FORMS)))
    )


def supplier_currency(plan: Plan, s: np.ndarray) -> pl.Series:
    return take([CURRENCY_BY_COUNTRY[c] for c in COUNTRIES], supplier_country(plan, s))


def payment_terms(plan: Plan, s: np.ndarray) -> np.ndarray:
    return np.array([14, 30, 30, 45, 60])[plan.pick("sup:term", s, 5)]


# (bank codes, digits after them) of each country's IBAN (ISO 13616); US accounts have none.
IBAN_FORMATS = {"FI": ([""], 14), "DE": ([""], 18), "SE": ([""], 20), "GB": (["NWBK", "BARC"], 14)}


def _digits(values: np.ndarray, length: int) -> np.ndarray:
    powers = 10 ** np.arange(length - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers[None, :]) % 10


def _mod97(columns: list[np.ndarray], n: int) -> np.ndarray:
    remainder = np.zeros(n, dtype=np.int64)
    for column in columns:
        for digit in column.T:
            remainder = (remainder * 10 + digit) % 97
    return remainder


def _letters(codes: np.ndarray) -> np.ndarray:
    """IBAN letters as their two-digit numbers (A=10 ... Z=35), one row of digits per code."""
    if not codes.size or not len(codes[0]):
        return np.zeros((len(codes), 0), dtype=np.int64)
    numbers = np.array([[int(c, 36) for c in code] for code in codes], dtype=np.int64)
    return np.stack([numbers // 10, numbers % 10], axis=2).reshape(len(codes), -1)


def supplier_iban(plan: Plan, s: np.ndarray) -> pl.Series:
    """BANK_ACCOUNT: a valid IBAN (mod-97 check digits) in the supplier's country; a US
    supplier's routing and account number."""
    country = supplier_country(plan, s)
    codes = take(COUNTRIES, country)
    high, low = plan.pick("sup:iban", s, 10**10), plan.pick("sup:iban2", s, 10**10)
    accounts = pl.Series(high).cast(pl.String).str.zfill(10) + pl.Series(low).cast(
        pl.String
    ).str.zfill(10)
    digits = np.concatenate([_digits(high, 10), _digits(low, 10)], axis=1)
    out = (
        (pl.Series(high % 10**9).cast(pl.String).str.zfill(9) + " " + accounts.str.slice(10))
        .to_numpy()
        .astype(object)
    )
    for code, (banks, length) in IBAN_FORMATS.items():
        mine = (codes == code).to_numpy()
        if not mine.any():
            continue
        bank = np.array(banks)[plan.pick("sup:bank", s[mine], len(banks))]
        tail = np.tile(np.append(_letters(np.array([code]))[0], [0, 0]), (int(mine.sum()), 1))
        check = 98 - _mod97([_letters(bank), digits[mine][:, 20 - length :], tail], len(tail))
        out[mine] = (
            code
            + pl.Series(check).cast(pl.String).str.zfill(2)
            + pl.Series(bank)
            + accounts.filter(pl.Series(mine)).str.slice(20 - length)
        ).to_numpy()
    return pl.Series(out.tolist(), dtype=pl.String)


def suppliers(plan: Plan, s: np.ndarray, version: np.ndarray) -> dict:
    created = plan.suppliers.created_in(s)
    country = supplier_country(plan, s)
    countries = take(COUNTRIES, country)
    city_pool = [city for code in COUNTRIES for city in CITIES[code][:2]]
    city = country * 2 + plan.pick("sup:city", s, 2)
    digits = pl.Series(plan.pick("sup:vat", s, 90_000_000) + 10_000_000).cast(pl.String)
    iban = supplier_iban(plan, s)
    blocked = (version > created) & (plan.pick("sup:blocked", s, 6, version) == 0)
    return {
        "ID": ids(plan, "ADM_SUPPLIER", s),
        "SUPPLIER_CODE": supplier_code(s),
        "SUPPLIER_NAME": supplier_name(plan, s),
        "VAT_NUMBER": countries + digits,
        "COUNTRY_CODE": countries,
        "CITY": take(city_pool, city),
        "POSTAL_CODE": pl.Series(plan.pick("sup:zip", s, 90000) + 10000).cast(pl.String),
        "BANK_ACCOUNT": iban,
        "PAYMENT_TERM_DAYS": payment_terms(plan, s),
        "CURRENCY_CODE": supplier_currency(plan, s),
        "BLOCKED": blocked.astype(np.int64),
        "CREATION_TIME": plan.created("sup", s, created),
    }
