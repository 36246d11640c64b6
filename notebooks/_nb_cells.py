"""Cell helpers shared by the notebook sources (``_nb_*.py``)."""

import nbformat

COMMON_SETUP = """\
import time
import numpy as np
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import softq

%matplotlib inline
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
print("jax", jax.__version__, "| softq", softq.__version__, "|", jax.devices()[0].platform)"""


def md(text: str):
  return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str):
  return nbformat.v4.new_code_cell(text.strip("\n"))
