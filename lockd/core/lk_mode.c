// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lk_mode.c - the names of lock modes, as admins type and read them: "ex", "sh", "mw"
 * and "none". Shared by the lock core, the lock volume dump and the CLIs.
 */
#include <string.h>

#include "lockd/core/lk_types.h"

static const char *const mode_names[] = {
	[LK_MODE_NONE] = "none",
	[LK_MODE_SH] = "sh",
	[LK_MODE_MW] = "mw",
	[LK_MODE_EX] = "ex",
};

const char *lk_mode_name(enum lk_mode m)
{
	if ((unsigned int)m >= sizeof(mode_names) / sizeof(mode_names[0]))
		return "?";
	return mode_names[m];
}

enum lk_mode lk_mode_parse(const char *s)
{
	for (unsigned int m = LK_MODE_SH; m < sizeof(mode_names) / sizeof(mode_names[0]); m++)
		if (strcmp(s, mode_names[m]) == 0)
			return (enum lk_mode)m;
	return LK_MODE_NONE;
}
