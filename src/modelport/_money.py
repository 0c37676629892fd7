"""How a cost in US dollars is printed, everywhere the package prints one."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["format_usd"]


def format_usd(value: Decimal | int | float | str) -> str:
    """``$0.0123``: at least four decimals, and enough to show two significant digits of a smaller amount
    (``$0.000084``, never ``$8.40E-5``); thousands grouped (``$1,234.5000``); ``-$0.50`` below zero."""
    amount = Decimal(str(value))
    if not amount.is_finite():
        return f"${amount}"
    places = 4 if amount == 0 else max(4, 1 - amount.copy_abs().adjusted())
    text = f"{amount.copy_abs():,.{places}f}"
    return f"-${text}" if amount < 0 and any(c in "123456789" for c in text) else f"${text}"
