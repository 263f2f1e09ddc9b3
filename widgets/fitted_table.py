"""A table whose columns are as wide as their content, within the width it has.

When everything fits, each column is as wide as its widest cell; when the
screen is too narrow, the widest columns give up width first, and a cut cell
ends in an ellipsis. The table fits itself again when its width changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable

# A DataTable pads each cell with one column either side.
CELL_PADDING = 2
# Room kept for the vertical scrollbar, which appears once the rows overflow.
SCROLLBAR = 2
# A column cut for room keeps at least this much of its text.
NARROWEST = 5

Row = tuple[Sequence[str | Text], str | None]


def plain(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def natural_widths(labels: Sequence[str | Text], rows: Sequence[Row]) -> list[int]:
    """Each column's widest cell, its label included."""
    widths = [cell_len(plain(label)) for label in labels]
    for cells, _key in rows:
        for index, cell in enumerate(cells):
            widths[index] = max(widths[index], cell_len(plain(cell)))
    return widths


def fit_widths(natural: Sequence[int], available: int, cut_first: Sequence[int] = ()) -> list[int]:
    """NATURAL widths if they fit in AVAILABLE columns; otherwise the columns at the
    indices CUT_FIRST give up width, then all of them, the widest first each time,
    down to NARROWEST (a column narrower than that by nature keeps its width)."""
    widths = list(natural)
    excess = sum(widths) + CELL_PADDING * len(widths) - available
    for candidates in (list(cut_first), list(range(len(widths)))):
        excess = _narrow(widths, candidates, excess)
    return widths


def _narrow(widths: list[int], candidates: list[int], excess: int) -> int:
    """Take up to EXCESS columns of width from the CANDIDATES, widest first; what is left."""
    while excess > 0 and candidates:
        widest = max(candidates, key=lambda index: widths[index])
        if widths[widest] <= NARROWEST:
            break
        runner_up = max((widths[i] for i in candidates if i != widest), default=0)
        narrower = max(widths[widest] - excess, runner_up, NARROWEST)
        if narrower == widths[widest]:
            narrower -= 1  # tied with another column: take one from each in turn
        excess -= widths[widest] - narrower
        widths[widest] = narrower
    return excess


def ellipsized(cell: str | Text) -> Text:
    """CELL as one line that ends in an ellipsis where the column cuts it."""
    text = cell.copy() if isinstance(cell, Text) else Text(cell)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


class FittedTable(DataTable[Text]):
    def __init__(
        self, columns: Sequence[tuple[str | Text, str]], cut_first: Sequence[str] = (), **kwargs
    ) -> None:
        """COLUMNS are (label, key) pairs; the columns keyed CUT_FIRST give up width before
        the others when the table is too narrow."""
        super().__init__(**kwargs)
        self.column_specs = list(columns)
        keys = [key for _label, key in self.column_specs]
        self.cut_first = [keys.index(key) for key in cut_first]
        self.rows_shown: list[Row] = []
        self.fitted_to = 0
        for label, key in self.column_specs:
            self.add_column(label, key=key)

    @property
    def available_width(self) -> int:
        return (self.size.width or self.app.size.width) - SCROLLBAR

    def fill(self, rows: Iterable[Row]) -> None:
        """Show ROWS, each (cells, key), the cursor on the first."""
        self.rows_shown = [(list(cells), key) for cells, key in rows]
        self.refit(keep_cursor=False)

    def refit(self, *, keep_cursor: bool) -> None:
        cursor = self.cursor_row
        labels = [label for label, _key in self.column_specs]
        self.fitted_to = self.available_width
        widths = fit_widths(natural_widths(labels, self.rows_shown), self.fitted_to, self.cut_first)
        self.clear(columns=True)
        for (label, column_key), width in zip(self.column_specs, widths, strict=True):
            self.add_column(label, key=column_key, width=width)
        for cells, row_key in self.rows_shown:
            self.add_row(*[ellipsized(cell) for cell in cells], key=row_key)
        if keep_cursor and self.rows_shown:
            self.move_cursor(row=min(cursor, len(self.rows_shown) - 1))

    def on_resize(self, _event: Resize) -> None:
        if self.available_width != self.fitted_to:
            self.refit(keep_cursor=True)
