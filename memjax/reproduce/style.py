"""One figure style for every reproduction figure.

Colour encodes one variable (the scheme, or the optimizer family) and line style another
(T, or layer norm / the optimizer variant); a theory or reference line takes its curve's
colour (`theory_line`); multi-panel figures carry panel letters (`panel_letters`); titles
carry the setting (`setting`: N, M, α and the seed count). `figure(...)` opens a figure
under `STYLE` (a matplotlib rc dict applied only inside the call: no global change).
"""

from __future__ import annotations

import contextlib
import math
import pathlib
import re
import string
import warnings

STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9.5,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": 160,
    "mathtext.fontset": "dejavusans",
    # Layout is per figure (`figure` asks for constrained); a user's rc must not add
    # one, and `save` relies on set_layout_engine(None) leaving none.
    "figure.autolayout": False,
    "figure.constrained_layout.use": False,
}

# Colour per scheme (Okabe–Ito, colour-blind safe) and per optimizer family.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")
SCHEME_COLORS = {"uniform": "#7f7f7f", "population": "#0072B2", "threshold": "#D55E00",
                 "empirical": "#009E73"}
OPTIMIZER_COLORS = {"GD": "#0072B2", "SGD": "#0072B2", "sign-GD": "#D55E00",
                    "normalised GD": "#009E73", "Adam β=0": "#CC79A7", "Adam": "#CC79A7"}
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))


def color(index: int) -> str:
    """The index-th colour of the palette (cycled)."""
    return PALETTE[index % len(PALETTE)]


def scheme_color(name: str, index: int = 0) -> str:
    """A scheme's colour from its name ('population(power=1)' -> population's colour);
    population schemes of other powers take further palette colours by `index`."""
    family = name.split("(")[0]
    if family == "population" and "power=1)" not in name:
        return color(4 + index)
    return SCHEME_COLORS.get(family, color(index))


def sequence(count: int, cmap: str = "viridis") -> list:
    """`count` colours in order along a sequential colormap (for ordered values: γ, B)."""
    import matplotlib
    import numpy as np

    return [matplotlib.colormaps[cmap](v) for v in np.linspace(0.0, 0.85, max(count, 1))]


def linestyle(index: int):
    """The index-th line style (e.g. per T, or per layer-norm setting)."""
    return LINESTYLES[index % len(LINESTYLES)]


@contextlib.contextmanager
def context():
    """Applies STYLE inside the block only."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def figure(ncols=1, *, nrows=1, width=4.6, height=3.5, **kwargs):
    """A styled figure of nrows × ncols panels (off-screen); returns (fig, axes) with axes
    flat when nrows == 1. Draw inside `with context():` for the fonts to apply too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with context():
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                                 layout="constrained", squeeze=False, **kwargs)
    return fig, (axes[0] if nrows == 1 else axes)


def theory_line(ax, x, y, color, *, label=None, **kwargs):
    """A reference (theory or predictor) curve in its simulated curve's colour, dashed."""
    kwargs.setdefault("linestyle", "--")
    kwargs.setdefault("linewidth", 1.1)
    kwargs.setdefault("alpha", 0.9)
    (line,) = ax.plot(x, y, color=color, label=label, **kwargs)
    return line


def power_law(ax, x, slope, anchor, color, *, label=None, **kwargs):
    """The line y = anchor[1]·(x/anchor[0])^slope over x, in `color` (see theory_line)."""
    import numpy as np

    x = np.asarray(x, float)
    return theory_line(ax, x, anchor[1] * (x / anchor[0]) ** slope, color, label=label,
                       **kwargs)


def panel_letters(axes, *, start=0):
    """Writes (a), (b), … at the top left of each Axes."""
    for i, ax in enumerate(list(axes)):
        ax.text(-0.02, 1.02, f"({string.ascii_lowercase[start + i]})",
                transform=ax.transAxes, ha="right", va="bottom", fontweight="bold",
                fontsize=10)
    return axes


class FigureLayoutWarning(UserWarning):
    """A saved figure has a layout defect that no number shows (a panel letter over a
    title)."""


_LETTER = re.compile(r"\([a-z]\)")


def letters_over_titles(fig) -> list[str]:
    """The panel letters ('(b)') of `fig` whose box overlaps a title's at its last draw,
    as when a title line is wider than a narrow (equal-aspect) box. `save` warns of them
    (`FigureLayoutWarning`, an error in the test suite: pyproject.toml)."""
    get_renderer = getattr(fig.canvas, "get_renderer", None)
    if get_renderer is None:  # a backend without a raster renderer: nothing to measure
        return []
    renderer = get_renderer()
    titles = [t for ax in fig.axes for t in (ax.title, getattr(ax, "_left_title", None),
                                            getattr(ax, "_right_title", None))
              if t is not None and t.get_text()]
    if getattr(fig, "_suptitle", None) is not None:
        titles.append(fig._suptitle)
    boxes = [t.get_window_extent(renderer) for t in titles]
    return [text.get_text() for ax in fig.axes for text in ax.texts
            if _LETTER.fullmatch(text.get_text())
            and any(text.get_window_extent(renderer).overlaps(b) for b in boxes)]


def setting(*, N=None, M=None, alpha=None, seeds=None, **more) -> str:
    """A title fragment such as '$N = 1000$, $M = 5$, $\\alpha = 2$, 100 seeds'; extra
    keywords are appended as 'name = value' (gamma, rho, beta become Greek)."""
    parts = []
    for symbol, value in (("N", N), ("M", M), (r"\alpha", alpha)):
        if value is not None:
            parts.append(f"${symbol} = {_number(value)}$")
    parts += [f"${SYMBOLS.get(name, name)} = {_number(value)}$" for name, value in more.items()]
    if seeds is not None:
        parts.append(f"{seeds} seed{'s' if seeds != 1 else ''}")
    return ", ".join(parts)


SYMBOLS = {"gamma": r"\gamma", "rho": r"\rho", "alpha": r"\alpha", "beta": r"\beta"}


def _number(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isinf(value):
        return r"\infty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}".replace(",", r"{,}")
    return f"{value:g}"


def title(ax, text, setting_text=""):
    """Sets a two-part title: what is shown, then the setting on its own line."""
    ax.set_title(text + (f"\n{setting_text}" if setting_text else ""), fontsize=9.5)
    return ax


def finish(ax, xlabel, ylabel="generalization error", *, logx=True, logy=True,
           legend=True):
    """Axis scales and labels, grid and legend (legend only when something is labelled)."""
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
    return ax


_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _plain_log_labels(fig):
    """Log-axis tick labels as plain text ('10⁻³', '2×10⁻¹') instead of mathtext: the
    same ticks and the same labels, but mathtext parsing was ~40 % of a save (1.5 of
    3.7 s for the thresholded-storage figures; benchmarks/README.md, eighth session)."""
    from matplotlib import ticker

    class Plain(ticker.LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            return _plain(super().__call__(x, pos))

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                old = getattr(axis, f"get_{which}_formatter")()
                if type(old) is ticker.LogFormatterSciNotation:
                    new = Plain(old._base, labelOnlyBase=old.labelOnlyBase,
                                minor_thresholds=old.minor_thresholds,
                                linthresh=old._linthresh)
                    getattr(axis, f"set_{which}_formatter")(new)


def _plain(label: str) -> str:
    """'$\\mathdefault{2\\times10^{-1}}$' -> '2×10⁻¹' (other labels unchanged)."""
    if not (label.startswith("$\\mathdefault{") and label.endswith("}$")):
        return label
    body = label[len("$\\mathdefault{"):-2].replace("\\times", "×")
    if "^{" in body:
        head, power = body.split("^{", 1)
        body = head + power.rstrip("}").translate(_SUPERSCRIPTS)
    return body


def save(fig, out_dir, stem) -> str:
    """Writes stem.png and stem.pdf in out_dir, closes the figure, returns the PNG name."""
    import matplotlib.pyplot as plt

    _plain_log_labels(fig)
    with context():
        for suffix in (".png", ".pdf"):
            fig.savefig(pathlib.Path(out_dir) / f"{stem}{suffix}", dpi=STYLE["savefig.dpi"])
            if suffix == ".png" and (overlaps := letters_over_titles(fig)):
                warnings.warn(f"{stem}.png: panel letters {overlaps} overlap a title",
                              FigureLayoutWarning, stacklevel=2)
            # The layout the PNG's draw fixed holds for the PDF (it is in figure
            # coordinates). No engine at all (None, not "none": matplotlib pre-draws a
            # figure that has any engine, a placeholder included) spares the PDF that
            # draw too: about 40 % of its save, the same bytes (benchmarks/README.md,
            # twelfth session).
            fig.set_layout_engine(None)
    plt.close(fig)
    return f"{stem}.png"
