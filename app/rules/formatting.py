"""How numbers read in tables, the same in the console and on the command line."""


def short_count(number: int) -> str:
    """Volumes as people read them at a glance: 950, 82.4k, 1.2M."""
    if number < 1_000:
        return str(number)
    if number < 1_000_000:
        return f"{number / 1_000:.1f}k"
    return f"{number / 1_000_000:.1f}M"


def percent(rate: float) -> str:
    return f"{rate * 100:.2f}%"
