"""Client names, industries and regions (with the CSV-quoting and UTF-8 edge cases)."""

from __future__ import annotations

import numpy as np

from .codes import ClientType

INDUSTRIES = (
    "manufacturing",
    "retail trade",
    "wholesale",
    "construction",
    "energy",
    "telecom",
    "transport",
    "agriculture",
    "it services",
    "real estate",
    "pharma",
    "food processing",
    "tourism",
    "mining",
)
REGIONS = ("Sofia", "Plovdiv", "Varna", "Burgas", "Ruse", "Stara Zagora", "Pleven", "Veliko Tarnovo", "")
ADJECTIVES = (
    "Balkan",
    "Rila",
    "Pirin",
    "Danube",
    "Black Sea",
    "Thracian",
    "Vitosha",
    "Rhodope",
    "Struma",
    "Maritsa",
    "Iskar",
    "Stara Planina",
    "Golden",
    "Nova",
    "Orbit",
    "Alpha",
    "Delta",
    "Prime",
    "Unity",
    "Eagle",
    "Lion",
    "Summit",
    "Crystal",
    "Evergreen",
)
NOUNS = (
    "Steel",
    "Logistics",
    "Foods",
    "Energy",
    "Textiles",
    "Pharma",
    "Motors",
    "Construction",
    "Telecom",
    "Agro",
    "Trade",
    "Chemicals",
    "Software",
    "Wines",
    "Tobacco",
    "Timber",
    "Glass",
    "Paper",
    "Mining",
    "Tourism",
    "Dairy",
    "Plastics",
    "Electronics",
    "Shipping",
)
LEGAL_FORMS = {
    ClientType.CORPORATE: ("AD", "EAD", "OOD", "Holding AD", "Group AD"),
    ClientType.SME: ("EOOD", "OOD", "ET"),
}
BANK_WORDS = ("Bank", "Investment Bank", "Commercial Bank", "Savings Bank")
FIRST_NAMES = (
    "Ivan",
    "Maria",
    "Georgi",
    "Elena",
    "Dimitar",
    "Petya",
    "Nikolay",
    "Desislava",
    "Stefan",
    "Kalina",
    "Todor",
    "Radostina",
    "Martin",
    "Vesela",
    "Aleksandar",
    "Yana",
)
LAST_NAMES = ("Petrov", "Ivanova", "Georgiev", "Dimitrova", "Nikolov", "Stoyanova", "Todorov", "Hristova", "Kolev",
              "Angelova", "Marinov", "Popova")  # fmt: skip


def client_names(rng, ctype: np.ndarray) -> tuple[list[str], list[str], list[str]]:
    """Name, industry and region of each client."""
    n = len(ctype)
    a = rng.integers(0, len(ADJECTIVES), n)
    b = rng.integers(0, len(NOUNS), n)
    s = rng.integers(0, 5, n)
    f = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    ind = rng.integers(0, len(INDUSTRIES), n)
    reg = rng.integers(0, len(REGIONS), n)
    names, industries, regions = [], [], []
    for i in range(n):
        t = int(ctype[i])
        if t == ClientType.INDIVIDUAL:
            names.append(f"{FIRST_NAMES[f[i]]} {LAST_NAMES[last[i]]}")
            industries.append("")
        elif t == ClientType.BANK:
            names.append(f"{ADJECTIVES[a[i]]} {BANK_WORDS[s[i] % 4]} AD")
            industries.append("banking")
        else:
            forms = LEGAL_FORMS[t]
            names.append(f"{ADJECTIVES[a[i]]} {NOUNS[b[i]]} {forms[s[i] % len(forms)]}")
            industries.append(INDUSTRIES[ind[i]])
        regions.append(REGIONS[reg[i]])
    # CSV quoting and UTF-8 edge cases
    corp = np.flatnonzero(ctype == ClientType.CORPORATE)
    if len(corp):
        names[corp[0]] = 'Smith, Jones & Co "Trading" Ltd'
    sme = np.flatnonzero(ctype == ClientType.SME)
    if len(sme):
        names[sme[0]] = "Тракия Агро ЕООД"
    return names, industries, regions
