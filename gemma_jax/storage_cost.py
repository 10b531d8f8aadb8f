"""What keeping a run's checkpoints or a dataset on Cloud Storage costs a month, from list prices.

Only the at-rest price is counted (operations and egress depend on use, and are small for a run
that writes a checkpoint every few minutes). The table is Cloud Storage's public list price per
GiB-month for a US multi-region bucket (https://cloud.google.com/storage/pricing); a regional bucket,
another currency or a negotiated price is `checkpoint.price_per_gib_month` in the job config.
"""

from __future__ import annotations

GIB = 1024**3
LIST_PRICES_USD_PER_GIB_MONTH = {"standard": 0.026, "nearline": 0.015, "coldline": 0.007, "archive": 0.0025}
STORAGE_CLASSES = tuple(LIST_PRICES_USD_PER_GIB_MONTH)


def monthly_cost(size_bytes: int, storage_class: str = "standard", price_per_gib_month: float | None = None) -> float:
    """USD a month to keep `size_bytes` (the given price, else the class's list price)."""
    price = LIST_PRICES_USD_PER_GIB_MONTH[storage_class] if price_per_gib_month is None else price_per_gib_month
    return size_bytes / GIB * price


def cost_note(size_bytes: int | None, storage_class: str = "standard", price_per_gib_month: float | None = None) -> str:
    """ "~$0.03/month (standard, list price)": the dashboard's and the CLI's words for it."""
    if size_bytes is None:
        return ""
    cost = monthly_cost(size_bytes, storage_class, price_per_gib_month)
    source = "your price" if price_per_gib_month is not None else "list price"
    amount = f"{cost:,.2f}" if cost >= 0.01 or cost == 0 else "<0.01"
    return f"~${amount}/month ({storage_class}, {source})"
