"""Synthetic bank: writes a realistic landing directory in the SPEC §3 data contract.

`generate_sample(out_dir, ...)` creates the core-banking extracts of a made-up corporate
bank — client and account snapshots, transactions, end-of-day balances and FX rates — so
the pipeline, its tests, the demo and the benchmark have data with every case they must
handle. It runs in stages, one module each:

* `profiles` — the kinds of client, one typed row each (client type, products, scale, flows, edge
  cases), landing in every VIP outcome; `products` — how each product's accounts behave;
* `clients` — client types, profiles, their draws, related parties, clients onboarded or offboarded
  inside the window, clients without accounts; `names` — names with CSV and UTF-8 edge cases;
* `groups` — economic groups (about 7 % of the clients) of every kind the rules must handle;
* `accounts` — products, currencies, opening and closing days, balance levels, rates and fees;
* `fx` — a random walk of FX rates on weekdays;
* `flows` — each month's postings (size-dependent activity, fees, interest both ways, loan
  repayments, own-account transfers, exports and imports) and dense, sparse or full-calendar balances;
* `faults` — a few contract-breaking rows in the big monthly history files (listed in the summary);
* `files` — monthly history files (``csv.gz`` transactions, ``parquet`` balances, ``csv`` rates), the
  latest months as daily files, the last month month-to-date; `generate` runs the stages in order.

Enums are the contract's (`codes`). Everything is vectorised with numpy per month and written with
pyarrow, so 5,000 clients × 24 months with a full balance history take a minute or two. Output is
byte-for-byte deterministic for the same arguments (`test_same_seed_same_files_as_recorded`).
"""

from .files import COLUMNS
from .generate import generate_sample
from .groups import GROUP_KINDS

__all__ = ["generate_sample", "COLUMNS", "GROUP_KINDS"]
