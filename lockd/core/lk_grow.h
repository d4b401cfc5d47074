/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_grow.h - the one growable-array helper of lockd/core: doubles an array's capacity
 * when it is full. LK_GROW(arr, n, cap) returns 0, or -ENOMEM with arr and cap unchanged.
 */
#ifndef VMFS_LK_GROW_H
#define VMFS_LK_GROW_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

static inline int lk_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

#define LK_GROW(arr, n, cap) lk_grow((void **)&(arr), &(cap), (n), sizeof(*(arr)))

#endif
