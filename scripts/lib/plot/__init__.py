# SPDX-License-Identifier: MIT
"""plot - the figures of one patlab run folder (RUN_DIR/results.csv) as SVG files in
RUN_DIR/plots, drawn with matplotlib; scripts/plot is its command line.

Modules, in the order the data flows:
  data     reads results.csv by column name and meta.json's per-pattern labels; the grouping
           (DIMS, config, partition, cells) and the aggregation (med3: median, min, max)
  draw     the two layouts every figure is made of: clustered bars, and line panels in a grid
  figures  one function per figure, and FIGURES: which figures each pattern gets
  cli      main(): draws them all into a temp folder that replaces RUN_DIR/plots, and
           plots/README.md saying what each figure shows and why any was not drawn

Only figures and draw import matplotlib, so a missing matplotlib is reported as such.
"""
