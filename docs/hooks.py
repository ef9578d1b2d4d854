"""MkDocs hooks: the notebooks the site renders are executed at smoke size by default.

`MEMJAX_SMOKE=0 mkdocs build` renders them at full size (minutes on a CPU). The Jupyter
kernel inherits this environment; its figures are drawn inline whatever MPLBACKEND the
build runs under (CI sets Agg, which would make the notebooks save PNGs instead).
"""

import os


def on_startup(command, dirty):
    os.environ.setdefault("MEMJAX_SMOKE", "1")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
