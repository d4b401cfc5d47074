// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tab.c - aligned text columns (tab.h). Cells are kept as strings until tab_print()
 * knows each column's width.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/vmfsadm/cmd.h"
#include "tools/vmfsadm/tab.h"

struct tab {
	unsigned int ncols;
	const char *const *head;
	char **cells; /* row-major, nrows * ncols */
	size_t nrows, ncells, cap;
};

struct tab *tab_new(unsigned int ncols, const char *const *head)
{
	struct tab *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	t->head = head;
	return t;
}

void tab_row(struct tab *t)
{
	assert(t->ncells == t->nrows * t->ncols);
	t->nrows++;
}

void tab_cell(struct tab *t, const char *fmt, ...)
{
	va_list ap;

	assert(t->ncells < t->nrows * t->ncols);
	if (t->ncells == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->cells = xreallocarray(t->cells, t->cap, sizeof(*t->cells));
	}
	va_start(ap, fmt);
	t->cells[t->ncells++] = xvasprintf(fmt, ap);
	va_end(ap);
}

static void print_row(const struct tab *t, FILE *f, int indent, const size_t *width,
		      const char *const *row)
{
	fprintf(f, "%*s", indent, "");
	for (unsigned int c = 0; c < t->ncols; c++) {
		if (c + 1 == t->ncols)
			fprintf(f, "%s\n", row[c]);
		else
			fprintf(f, "%-*s  ", (int)width[c], row[c]);
	}
}

void tab_print(const struct tab *t, FILE *f, int indent)
{
	size_t *width = xcalloc(t->ncols, sizeof(*width));

	assert(t->ncells == t->nrows * t->ncols);
	for (size_t i = 0; i < t->ncells; i++) {
		size_t n = strlen(t->cells[i]);

		if (n > width[i % t->ncols])
			width[i % t->ncols] = n;
	}
	for (unsigned int c = 0; t->head && c < t->ncols; c++)
		if (strlen(t->head[c]) > width[c])
			width[c] = strlen(t->head[c]);
	if (t->head)
		print_row(t, f, indent, width, t->head);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t, f, indent, width, (const char *const *)&t->cells[r * t->ncols]);
	free(width);
}

void tab_free(struct tab *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
