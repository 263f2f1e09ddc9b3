"""A table whose columns are as wide as their content, within the width it has.

When everything fits, each column is as wide as its widest cell; when the
screen is too narrow, columns that can be spared leave first, then the widest
columns give up width, those that must stay whole last, and a cut cell ends in
an ellipsis. The table fits itself again when its width changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.events import Resize
from textual.widget import Widget
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


def fit_widths(
    natural: Sequence[int],
    available: int,
    cut_first: Sequence[int] = (),
    keep_whole: Sequence[int] = (),
) -> list[int]:
    """NATURAL widths if they fit in AVAILABLE columns; otherwise the columns at the
    indices CUT_FIRST give up width, then all but those at KEEP_WHOLE, then all of
    them, the widest first each time, down to NARROWEST (a column narrower than that
    by nature keeps its width)."""
    widths = list(natural)
    excess = total_width(widths) - available
    everyone = list(range(len(widths)))
    cut_next = [index for index in everyone if index not in keep_whole]
    for candidates in (list(cut_first), cut_next, everyone):
        excess = _narrow(widths, candidates, excess)
    return widths


def total_width(widths: Sequence[int]) -> int:
    return sum(widths) + CELL_PADDING * len(widths)


def shown_columns(natural: Sequence[int], available: int, spare: Sequence[int]) -> list[int]:
    """The indices of the columns to show: all if their NATURAL widths fit in AVAILABLE,
    else without those in SPARE, which leave in order until the rest fit whole."""
    shown = list(range(len(natural)))
    for index in spare:
        if total_width([natural[i] for i in shown]) <= available:
            break
        shown.remove(index)
    return shown


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
        self,
        columns: Sequence[tuple[str | Text, str]],
        cut_first: Sequence[str] = (),
        keep_whole: Sequence[str] = (),
        spare: Sequence[str] = (),
        **kwargs,
    ) -> None:
        """COLUMNS are (label, key) pairs. When the table is too narrow, the columns keyed
        SPARE leave, in that order, until the others fit whole; if they still do not, the
        columns keyed CUT_FIRST give up width before the others, and those keyed
        KEEP_WHOLE only when nothing else can."""
        super().__init__(**kwargs)
        self.column_specs = list(columns)
        self.keys = [key for _label, key in self.column_specs]
        self.cut_first = list(cut_first)
        self.keep_whole = list(keep_whole)
        self.spare = [self.keys.index(key) for key in spare]
        self.rows_shown: list[Row] = []
        self.fitted_to = 0
        for label, key in self.column_specs:
            self.add_column(label, key=key)

    @property
    def available_width(self) -> int:
        """The width the table's container gives it, not the table's own width (which is
        its columns', so a table fitted to itself would only ever shrink)."""
        parent = self.parent
        room = parent.scrollable_content_region.width if isinstance(parent, Widget) else 0
        return (room or self.app.size.width) - self.styles.margin.width - SCROLLBAR

    def fill(self, rows: Iterable[Row], *, keep_place: bool = False) -> None:
        """Show ROWS, each (cells, key): the cursor on the first, or with KEEP_PLACE on the
        row and at the scroll position the reader left."""
        self.rows_shown = [(list(cells), key) for cells, key in rows]
        self.refit(keep_cursor=keep_place)

    def update_row(self, key: str, cells: Sequence[str | Text]) -> None:
        """Show CELLS in the row keyed KEY, the cursor and scroll position kept."""
        self.rows_shown = [
            (list(cells) if row_key == key else row_cells, row_key)
            for row_cells, row_key in self.rows_shown
        ]
        self.refit(keep_cursor=True)

    def refit(self, *, keep_cursor: bool) -> None:
        cursor = self.cursor_row
        scroll_x, scroll_y = self.scroll_x, self.scroll_y
        labels = [label for label, _key in self.column_specs]
        self.fitted_to = self.available_width
        natural = natural_widths(labels, self.rows_shown)
        shown = shown_columns(natural, self.fitted_to, self.spare)
        shown_keys = [self.keys[index] for index in shown]
        widths = fit_widths(
            [natural[index] for index in shown],
            self.fitted_to,
            [shown_keys.index(key) for key in self.cut_first if key in shown_keys],
            [shown_keys.index(key) for key in self.keep_whole if key in shown_keys],
        )
        self.clear(columns=True)
        for index, width in zip(shown, widths, strict=True):
            label, column_key = self.column_specs[index]
            self.add_column(ellipsized(label), key=column_key, width=width)
        for cells, row_key in self.rows_shown:
            self.add_row(*[ellipsized(cells[index]) for index in shown], key=row_key)
        if keep_cursor and self.rows_shown:
            self.move_cursor(row=min(cursor, len(self.rows_shown) - 1), scroll=False)
            # The table knows its new height only after the next refresh.
            self.call_after_refresh(self.scroll_to, scroll_x, scroll_y, animate=False)

    def on_resize(self, _event: Resize) -> None:
        if self.available_width != self.fitted_to:
            self.refit(keep_cursor=True)
