/* PLACEHOLDER so the tree configures while this file is written; replaced by its author. */
typedef int pl__placeholder_sweep;
