/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tab.h - aligned text columns for vmfsadm's human output: add rows of cells, then print
 * with every column as wide as its widest cell. Memory runs out only by exiting (xalloc).
 */
#ifndef VMFS_TAB_H
#define VMFS_TAB_H

#include <stdio.h>

struct tab;

/* A table of ncols columns; head holds ncols titles, or is NULL for no title row. */
struct tab *tab_new(unsigned int ncols, const char *const *head);
/* Starts a row; the next ncols tab_cell() calls fill it. */
void tab_row(struct tab *t);
__attribute__((format(printf, 2, 3))) void tab_cell(struct tab *t, const char *fmt, ...);
/* Prints the rows, each indented by indent spaces; the last column is not padded. */
void tab_print(const struct tab *t, FILE *f, int indent);
void tab_free(struct tab *t);

#endif
