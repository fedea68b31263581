"""A tiny bank written as real landing files, small enough to compute every expected number by hand.

Clients: c1 (corporate, USD current A1 + EUR deposit A2 opened 2024-02-15), c2 (sme, current B1 opened
2024-02-10, closed 2024-03-20). February 2024 comes as monthly history files, March as daily files.
"""

from __future__ import annotations

from pathlib import Path

FILES = {
    "clients_2024-03-31.csv": """client_id,name,client_type,related_party,industry,region,onboarded_on,offboarded_on,annual_sales_usd,monopoly_position,strategic,service_model
c1,Alpha Energy,corporate,,energy,Sofia,2020-01-01,,6000000,true,false,standard
c2,Beta Retail,sme,none,retail,Varna,2024-02-10,,,false,false,vip
""",
    "accounts_2024-03-31.csv": """account_id,client_id,product,currency,opened_on,closed_on
A1,c1,current,USD,2020-01-01,
A2,c1,deposit,EUR,2024-02-15,
B1,c2,current,USD,2024-02-10,2024-03-20
""",
    "fx_rates_2024-01.csv": "rate_date,currency,usd_per_unit\n2024-01-29,EUR,1.1\n",
    "fx_rates_2024-02.csv": """rate_date,currency,usd_per_unit
2024-02-05,EUR,1.1
2024-02-12,EUR,1.1
2024-02-19,EUR,1.2
2024-02-26,EUR,1.2
""",
    "fx_rates_2024-03.csv": """rate_date,currency,usd_per_unit
2024-03-04,EUR,1.0
2024-03-11,EUR,1.0
2024-03-18,EUR,1.0
2024-03-25,EUR,1.0
""",
    "balances_2024-02.csv": """account_id,balance_date,balance
A1,2024-02-01,1000
A2,2024-02-15,500
B1,2024-02-10,100
""",
    "transactions_2024-02.csv": """txn_id,account_id,booking_date,amount,direction,txn_type,counterparty_account_id,counterparty_country,purpose
t1,A1,2024-02-05,700000,C,payment,,DE,export
t2,A1,2024-02-06,50,D,fee,,,
t3,A1,2024-02-07,100,C,transfer,A2,,
""",
    "balances_2024-03-31.csv": "account_id,balance_date,balance\nA1,2024-03-31,2000\n",
    "transactions_2024-03-04.csv": """txn_id,account_id,booking_date,amount,direction,txn_type,counterparty_account_id,counterparty_country,purpose
t4,A1,2024-03-04,10,C,interest,,,
""",
}


def write_tiny_bank(landing: Path, files: dict[str, str] | None = None) -> Path:
    landing.mkdir(parents=True, exist_ok=True)
    for name, text in (files or FILES).items():
        (landing / name).write_text(text, encoding="utf-8")
    return landing
