/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim_plant.c - deliberately broken protocol rules. Each replaces one entry of the lock
 * core's rule table (lk_rules) to break one rule; `vmfs-sim --plant NAME` runs with it,
 * and tests/sim/check-planted.sh asserts that the checker reports violations each time.
 *
 *   orphan   grant a lock next to a departed host's conflicting hold before recovery
 *   persist  hand a granted lock to clients before it is in the host's table on disk
 *   handoff  move only the first file of a handoff at commit
 */
#include <string.h>

#include "tests/sim/sim.h"

static bool grant_over_orphans(const struct lk_lock_view *holders, size_t n, enum lk_mode mode)
{
	for (size_t i = 0; i < n; i++)
		if (!holders[i].orphan && !lk_mode_compatible(holders[i].mode, mode))
			return false;
	return true;
}

static bool use_unpersisted(bool persisted)
{
	(void)persisted;
	return true;
}

static bool move_first_only(uint32_t i, uint32_t n)
{
	(void)n;
	return i == 0;
}

static void break_orphan(struct lk_rules *r) { r->grantable = grant_over_orphans; }
static void break_persist(struct lk_rules *r) { r->may_use = use_unpersisted; }
static void break_handoff(struct lk_rules *r) { r->commit_moves = move_first_only; }

static const struct {
	const char *name;
	void (*apply)(struct lk_rules *r);
} plants[] = {
	{ "orphan", break_orphan },
	{ "persist", break_persist },
	{ "handoff", break_handoff },
};

/* The default rules with the named one broken; NULL for an unknown name. */
const struct lk_rules *sim_plant(const char *name)
{
	static struct lk_rules r;

	for (size_t i = 0; i < sizeof(plants) / sizeof(plants[0]); i++) {
		if (strcmp(name, plants[i].name) == 0) {
			r = lk_rules_default;
			plants[i].apply(&r);
			return &r;
		}
	}
	return NULL;
}

const char *sim_plant_names(void)
{
	return "orphan, persist, handoff";
}
